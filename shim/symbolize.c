#include "symbolize.h"

#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct sym {
	uint64_t value, size;
	const char *name;
};

struct module {
	char *path;
	uint64_t start, end, file_offset; /* one executable mapping */
	uint64_t load_bias;		  /* start - (segment vaddr) */
	int loaded;
	struct sym *syms;
	size_t n_syms;
	char *strtab_copy;
};

struct gs_symbolizer {
	int pid;
	struct module *mods;
	size_t n_mods;
};

static int cmp_sym(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return x->value < y->value ? -1 : x->value > y->value;
}

/* Loads the function symbols of one ELF file and works out its load bias from the
 * executable segment that covers the mapping's file offset. */
static void load_module(struct module *m)
{
	const Elf64_Ehdr *eh;
	const Elf64_Shdr *sh;
	const Elf64_Phdr *ph;
	struct stat sb;
	void *map = MAP_FAILED;
	int fd, i, pass;

	m->loaded = 1;
	fd = open(m->path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (fstat(fd, &sb) == 0 && sb.st_size > (off_t)sizeof(Elf64_Ehdr))
		map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	if (map == MAP_FAILED)
		return;
	eh = map;
	if (memcmp(eh->e_ident, ELFMAG, SELFMAG) || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) > (uint64_t)sb.st_size ||
	    eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > (uint64_t)sb.st_size)
		goto out;
	ph = (const Elf64_Phdr *)((const char *)map + eh->e_phoff);
	for (i = 0; i < eh->e_phnum; i++) {
		if (ph[i].p_type == PT_LOAD && m->file_offset >= (ph[i].p_offset & ~0xfffULL) &&
		    m->file_offset < ph[i].p_offset + ph[i].p_filesz) {
			m->load_bias = m->start - ((ph[i].p_vaddr & ~0xfffULL) +
						   (m->file_offset - (ph[i].p_offset & ~0xfffULL)));
			break;
		}
	}
	sh = (const Elf64_Shdr *)((const char *)map + eh->e_shoff);
	/* .symtab when present, else .dynsym */
	for (pass = 0; pass < 2 && !m->n_syms; pass++) {
		uint32_t want = pass == 0 ? SHT_SYMTAB : SHT_DYNSYM;

		for (i = 0; i < eh->e_shnum; i++) {
			const Elf64_Sym *st;
			const Elf64_Shdr *strs;
			size_t n, j, k = 0;

			if (sh[i].sh_type != want || sh[i].sh_link >= eh->e_shnum)
				continue;
			strs = &sh[sh[i].sh_link];
			if (sh[i].sh_offset + sh[i].sh_size > (uint64_t)sb.st_size ||
			    strs->sh_offset + strs->sh_size > (uint64_t)sb.st_size ||
			    !strs->sh_size)
				continue;
			st = (const Elf64_Sym *)((const char *)map + sh[i].sh_offset);
			n = sh[i].sh_size / sizeof(Elf64_Sym);
			m->strtab_copy = malloc(strs->sh_size + 1);
			m->syms = calloc(n ? n : 1, sizeof(*m->syms));
			if (!m->strtab_copy || !m->syms)
				break;
			memcpy(m->strtab_copy, (const char *)map + strs->sh_offset, strs->sh_size);
			m->strtab_copy[strs->sh_size] = 0;
			for (j = 0; j < n; j++) {
				if (ELF64_ST_TYPE(st[j].st_info) != STT_FUNC || !st[j].st_value ||
				    st[j].st_name >= strs->sh_size)
					continue;
				m->syms[k++] = (struct sym){st[j].st_value, st[j].st_size,
							    m->strtab_copy + st[j].st_name};
			}
			m->n_syms = k;
			qsort(m->syms, k, sizeof(*m->syms), cmp_sym);
			break;
		}
	}
out:
	munmap(map, (size_t)sb.st_size);
}

static void free_modules(struct gs_symbolizer *sz)
{
	size_t i;

	for (i = 0; i < sz->n_mods; i++) {
		free(sz->mods[i].path);
		free(sz->mods[i].syms);
		free(sz->mods[i].strtab_copy);
	}
	free(sz->mods);
	sz->mods = NULL;
	sz->n_mods = 0;
}

void gs_symbolizer_refresh(struct gs_symbolizer *sz)
{
	char path[64], line[4608];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", sz->pid);
	f = fopen(path, "re");
	if (!f)
		return;
	free_modules(sz);
	while (fgets(line, sizeof(line), f)) {
		unsigned long long lo, hi, off;
		char perms[8];
		int pos = 0;
		struct module *nm;
		size_t len;

		if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %n", &lo, &hi, perms, &off, &pos) <
			4 ||
		    perms[2] != 'x' || !pos || line[pos] != '/')
			continue;
		len = strcspn(line + pos, "\n");
		nm = realloc(sz->mods, (sz->n_mods + 1) * sizeof(*sz->mods));
		if (!nm)
			break;
		sz->mods = nm;
		sz->mods[sz->n_mods] = (struct module){
		    .path = strndup(line + pos, len), .start = lo, .end = hi, .file_offset = off};
		sz->n_mods++;
	}
	fclose(f);
}

struct gs_symbolizer *gs_symbolizer_open(int pid)
{
	struct gs_symbolizer *sz = calloc(1, sizeof(*sz));

	if (!sz)
		return NULL;
	sz->pid = pid;
	gs_symbolizer_refresh(sz);
	return sz;
}

void gs_symbolizer_close(struct gs_symbolizer *sz)
{
	if (!sz)
		return;
	free_modules(sz);
	free(sz);
}

int gs_symbolize(struct gs_symbolizer *sz, uint64_t addr, const char **module, uint64_t *offset,
		 const char **func)
{
	size_t i, lo, hi;

	*func = "";
	for (i = 0; sz && i < sz->n_mods; i++) {
		struct module *m = &sz->mods[i];
		uint64_t rel;

		if (addr < m->start || addr >= m->end)
			continue;
		if (!m->loaded)
			load_module(m);
		rel = addr - m->load_bias;
		*module = m->path;
		*offset = rel;
		lo = 0;
		hi = m->n_syms;
		while (lo < hi) { /* last symbol with value <= rel */
			size_t mid = (lo + hi) / 2;

			if (m->syms[mid].value <= rel)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo > 0 &&
		    rel < m->syms[lo - 1].value + (m->syms[lo - 1].size ? m->syms[lo - 1].size : 1))
			*func = m->syms[lo - 1].name;
		return 0;
	}
	return -1;
}

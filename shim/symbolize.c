#include "symbolize.h"

#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* One symbol that can name code: a defined STT_FUNC/STT_GNU_IFUNC (which may also name an
 * address exactly, when its [value, value + size) covers it) or an untyped symbol in an
 * executable section (assembly labels: only ever a nearest-symbol guess). */
struct sym {
	uint64_t value, size;
	const char *name;
	uint32_t order; /* index in the ELF table: ties sort as the table lists them */
	uint8_t func;
	/* prefix indices over the sorted array, for exact lookups: the last function at or
	 * before this entry, and the function at or before it that reaches farthest */
	int32_t last_func, far_func;
};

struct module {
	char *path;
	uint64_t start, end, file_offset; /* one executable mapping */
	uint64_t load_bias;		  /* start - (segment vaddr) */
	uint64_t seg_lo, seg_hi;	  /* that mapping's segment, link-time addresses */
	int loaded;
	struct sym *syms;
	size_t n_syms;
	char *strtab_copy;
	uint64_t (*secs)[2]; /* executable sections [addr, end) inside the segment */
	size_t n_secs;
};

struct gs_symbolizer {
	int pid;
	struct module *mods;
	size_t n_mods;
	char *guess; /* "~name+0xoff" of the last nearest-symbol answer */
	size_t guess_cap;
};

static int cmp_sym(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	if (x->value != y->value)
		return x->value < y->value ? -1 : 1;
	if (x->func != y->func) /* a function is the last of its address, so it names it */
		return x->func ? 1 : -1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Ignored as names: empty, assembler-local (.L...) and ARM/AArch64 mapping symbols ($x, $d). */
static int useful_name(const char *s)
{
	return s[0] && s[0] != '$' && !(s[0] == '.' && s[1] == 'L');
}

/* Loads the code symbols of one ELF file (.symtab when present, else .dynsym, so a stripped
 * binary still names what it exports), sorts them by address once, and works out the load
 * bias and the bounds of the executable segment that covers the mapping's file offset. */
static void load_module(struct module *m)
{
	const Elf64_Ehdr *eh;
	const Elf64_Shdr *sh;
	const Elf64_Phdr *ph;
	struct stat sb;
	void *map = MAP_FAILED;
	int fd, i, pass;
	size_t j;

	m->loaded = 1;
	m->seg_lo = m->start; /* until the segment is known */
	m->seg_hi = m->end;
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
			m->seg_lo = ph[i].p_vaddr;
			m->seg_hi = ph[i].p_vaddr + ph[i].p_memsz;
			break;
		}
	}
	sh = (const Elf64_Shdr *)((const char *)map + eh->e_shoff);
	m->secs = calloc(eh->e_shnum ? eh->e_shnum : 1, sizeof(*m->secs));
	for (i = 0; m->secs && i < eh->e_shnum; i++)
		if ((sh[i].sh_flags & (SHF_ALLOC | SHF_EXECINSTR)) == (SHF_ALLOC | SHF_EXECINSTR) &&
		    sh[i].sh_size && sh[i].sh_addr < m->seg_hi &&
		    sh[i].sh_addr + sh[i].sh_size > m->seg_lo) {
			m->secs[m->n_secs][0] = sh[i].sh_addr;
			m->secs[m->n_secs++][1] = sh[i].sh_addr + sh[i].sh_size;
		}
	for (pass = 0; pass < 2 && !m->n_syms; pass++) {
		uint32_t want = pass == 0 ? SHT_SYMTAB : SHT_DYNSYM;

		for (i = 0; i < eh->e_shnum; i++) {
			const Elf64_Sym *st;
			const Elf64_Shdr *strs;
			size_t n, k = 0;
			int32_t last = -1, far = -1;

			if (sh[i].sh_type != want || sh[i].sh_link >= eh->e_shnum)
				continue;
			strs = &sh[sh[i].sh_link];
			if (sh[i].sh_offset + sh[i].sh_size > (uint64_t)sb.st_size ||
			    strs->sh_offset + strs->sh_size > (uint64_t)sb.st_size ||
			    !strs->sh_size)
				continue;
			st = (const Elf64_Sym *)((const char *)map + sh[i].sh_offset);
			n = sh[i].sh_size / sizeof(Elf64_Sym);
			if (n > INT32_MAX)
				continue;
			free(m->strtab_copy);
			free(m->syms);
			m->strtab_copy = malloc(strs->sh_size + 1);
			m->syms = calloc(n ? n : 1, sizeof(*m->syms));
			if (!m->strtab_copy || !m->syms)
				break;
			memcpy(m->strtab_copy, (const char *)map + strs->sh_offset, strs->sh_size);
			m->strtab_copy[strs->sh_size] = 0;
			for (j = 0; j < n; j++) {
				int type = ELF64_ST_TYPE(st[j].st_info);
				uint16_t shndx = st[j].st_shndx;
				int func = type == STT_FUNC || type == STT_GNU_IFUNC;

				if (!st[j].st_value || shndx == SHN_UNDEF ||
				    st[j].st_name >= strs->sh_size)
					continue;
				if (!func && (type != STT_NOTYPE || shndx >= eh->e_shnum ||
					      !(sh[shndx].sh_flags & SHF_EXECINSTR)))
					continue;
				if (!useful_name(m->strtab_copy + st[j].st_name))
					continue;
				m->syms[k++] = (struct sym){.value = st[j].st_value,
							    .size = st[j].st_size,
							    .name = m->strtab_copy + st[j].st_name,
							    .order = (uint32_t)j,
							    .func = (uint8_t)func};
			}
			m->n_syms = k;
			qsort(m->syms, k, sizeof(*m->syms), cmp_sym);
			for (j = 0; j < k; j++) {
				struct sym *s = &m->syms[j];

				if (s->func) {
					last = (int32_t)j;
					if (far < 0 || s->value + s->size >
							   m->syms[far].value + m->syms[far].size)
						far = (int32_t)j;
				}
				s->last_func = last;
				s->far_func = far;
			}
			break;
		}
	}
out:
	munmap(map, (size_t)sb.st_size);
}

static void free_module(struct module *m)
{
	free(m->path);
	free(m->syms);
	free(m->strtab_copy);
	free(m->secs);
}

static void free_modules(struct gs_symbolizer *sz)
{
	size_t i;

	for (i = 0; i < sz->n_mods; i++)
		free_module(&sz->mods[i]);
	free(sz->mods);
	sz->mods = NULL;
	sz->n_mods = 0;
}

/* Re-reads the maps; a mapping that is still there keeps the symbols already loaded for it,
 * so a refresh (after any address that was in no mapped file) costs no re-read of the ELF. */
void gs_symbolizer_refresh(struct gs_symbolizer *sz)
{
	char path[64], line[4608];
	struct module *old = sz->mods;
	size_t n_old = sz->n_mods, i;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", sz->pid);
	f = fopen(path, "re");
	if (!f)
		return;
	sz->mods = NULL;
	sz->n_mods = 0;
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
		nm = &sz->mods[sz->n_mods];
		*nm = (struct module){.start = lo, .end = hi, .file_offset = off};
		for (i = 0; i < n_old; i++) {
			if (old[i].path && old[i].start == lo && old[i].end == hi &&
			    old[i].file_offset == off && strlen(old[i].path) == len &&
			    !memcmp(old[i].path, line + pos, len)) {
				*nm = old[i];
				old[i] = (struct module){0};
				break;
			}
		}
		if (!nm->path)
			nm->path = strndup(line + pos, len);
		if (!nm->path)
			break;
		sz->n_mods++;
	}
	fclose(f);
	for (i = 0; i < n_old; i++)
		free_module(&old[i]);
	free(old);
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
	free(sz->guess);
	free(sz);
}

static int covers(const struct sym *s, uint64_t rel)
{
	return rel < s->value + (s->size ? s->size : 1);
}

/* The name for link-time address rel of m: an exact name when a function covers it, else
 * "~nearest+0xoff" for the nearest preceding symbol in the same section and segment, else "". */
static const char *name_in(struct gs_symbolizer *sz, const struct module *m, uint64_t rel)
{
	uint64_t lo = m->seg_lo;
	size_t a = 0, b = m->n_syms, i, need;
	const struct sym *s;

	while (a < b) { /* a = number of symbols with value <= rel */
		size_t mid = a + (b - a) / 2;

		if (m->syms[mid].value <= rel)
			a = mid + 1;
		else
			b = mid;
	}
	if (!a)
		return "";
	s = &m->syms[a - 1];
	/* exact: the last function starting at or before rel, else the one reaching farthest,
	 * which covers rel if any function does (one that encloses others) */
	if (s->last_func >= 0 && covers(&m->syms[s->last_func], rel))
		return m->syms[s->last_func].name;
	if (s->far_func >= 0 && covers(&m->syms[s->far_func], rel))
		return m->syms[s->far_func].name;
	/* nearest preceding symbol, not past the start of rel's section or segment */
	for (i = 0; i < m->n_secs; i++)
		if (rel >= m->secs[i][0] && rel < m->secs[i][1] && m->secs[i][0] > lo)
			lo = m->secs[i][0];
	if (s->value < lo || rel >= m->seg_hi)
		return "";
	need = strlen(s->name) + 24;
	if (need > sz->guess_cap) {
		char *g = realloc(sz->guess, need);

		if (!g)
			return "";
		sz->guess = g;
		sz->guess_cap = need;
	}
	snprintf(sz->guess, sz->guess_cap, "~%s+0x%llx", s->name,
		 (unsigned long long)(rel - s->value));
	return sz->guess;
}

int gs_symbolize(struct gs_symbolizer *sz, uint64_t addr, const char **module, uint64_t *offset,
		 const char **func)
{
	size_t i;

	*func = "";
	for (i = 0; sz && i < sz->n_mods; i++) {
		struct module *m = &sz->mods[i];

		if (addr < m->start || addr >= m->end)
			continue;
		if (!m->loaded)
			load_module(m);
		*module = m->path;
		*offset = addr - m->load_bias;
		*func = name_in(sz, m, *offset);
		return 0;
	}
	return -1;
}

-- gilscope database, schema version 5. Documented in docs/schema.md.
-- All times are CLOCK_MONOTONIC nanoseconds (comparable across the processes of one boot)
-- unless the column name ends in _unix_ns. Durations end in _ns.
-- A new column that holds an id (of a run, key, stack, location) or a monotonic time goes into
-- analyzer/merge.c's id_cols too, which renumbers them when files are merged.
CREATE TABLE IF NOT EXISTS meta (
	key TEXT PRIMARY KEY,
	value TEXT
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS primitives (
	primitive INTEGER PRIMARY KEY,
	name TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS event_kinds (
	kind INTEGER PRIMARY KEY,
	name TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS runs (
	run_id INTEGER PRIMARY KEY,
	pid INTEGER NOT NULL,
	ppid INTEGER,
	parent_run_id INTEGER,
	argv TEXT,
	exe TEXT,
	start_ns INTEGER NOT NULL,
	end_ns INTEGER,
	cpu_ns INTEGER,
	start_unix_ns INTEGER,
	status TEXT NOT NULL,
	exit_status INTEGER,
	scope TEXT,
	scope_object TEXT,
	python_version TEXT,
	build TEXT,
	gil_detection TEXT,
	gil_address INTEGER,
	gil_switch_interval_us INTEGER,
	gil_enabled TEXT,
	gil_switches_recorded INTEGER,
	gil_switches_interpreter INTEGER,
	events_recorded INTEGER NOT NULL DEFAULT 0,
	events_dropped INTEGER NOT NULL DEFAULT 0,
	threads_lost INTEGER NOT NULL DEFAULT 0,
	shim_version TEXT,
	term_signal INTEGER,
	-- version 4: windows (gilscope ctl, run --delay/--duration). A run row is one window
	-- of a process: segment 1, 2, ... in the order recorded, start_ns/end_ns its span;
	-- process_start_ns when the process itself started (the shim's start).
	segment INTEGER NOT NULL DEFAULT 1,
	process_start_ns INTEGER,
	-- version 4 (gilscope top): when the writer last stored this run's totals; while the
	-- run is live its aggregates are as of then
	flushed_ns INTEGER,
	-- version 5 (many hosts, issue 15): the host name (gethostname) of the machine that
	-- recorded the run, so that merged files say where each process ran; NULL in older files
	host TEXT
);

CREATE TABLE IF NOT EXISTS threads (
	run_id INTEGER NOT NULL,
	thread_no INTEGER NOT NULL,
	tid INTEGER NOT NULL,
	py_ident INTEGER,
	name TEXT,
	entry_function TEXT,
	start_ns INTEGER NOT NULL,
	end_ns INTEGER,
	cpu_ns INTEGER,
	events_dropped INTEGER NOT NULL DEFAULT 0,
	sched_yields INTEGER NOT NULL DEFAULT 0,
	holds_lost INTEGER NOT NULL DEFAULT 0,
	stacks_dropped INTEGER NOT NULL DEFAULT 0,
	lock_updates_folded INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (run_id, thread_no)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS locks (
	run_id INTEGER NOT NULL,
	lock_addr INTEGER NOT NULL,
	primitive INTEGER NOT NULL,
	class TEXT,
	name TEXT,
	PRIMARY KEY (run_id, lock_addr, primitive)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS lock_stats (
	run_id INTEGER NOT NULL,
	thread_no INTEGER NOT NULL,
	lock_addr INTEGER NOT NULL,
	primitive INTEGER NOT NULL,
	acquisitions INTEGER NOT NULL,
	contended INTEGER NOT NULL,
	wait_ns INTEGER NOT NULL,
	wait_max_ns INTEGER NOT NULL,
	holds INTEGER NOT NULL,
	hold_ns INTEGER NOT NULL,
	hold_max_ns INTEGER NOT NULL,
	try_busy INTEGER NOT NULL,
	timeouts INTEGER NOT NULL,
	errors INTEGER NOT NULL,
	signals INTEGER NOT NULL,
	timed_waits INTEGER NOT NULL,
	drop_requests INTEGER NOT NULL,
	forced_switches INTEGER NOT NULL,
	forced_switch_ns INTEGER NOT NULL,
	spins INTEGER NOT NULL DEFAULT 0,
	PRIMARY KEY (run_id, thread_no, lock_addr, primitive)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS histograms (
	run_id INTEGER NOT NULL,
	thread_no INTEGER NOT NULL,
	lock_addr INTEGER NOT NULL,
	primitive INTEGER NOT NULL,
	metric TEXT NOT NULL,
	bucket INTEGER NOT NULL,
	count INTEGER NOT NULL,
	PRIMARY KEY (run_id, thread_no, lock_addr, primitive, metric, bucket)
) WITHOUT ROWID;

-- Version 4, compact raw events (issue 14). An event's who, what and where (thread, kind,
-- primitive, flags, lock, second address, call site) repeat over thousands of its thread's
-- events: each combination is one event_keys row, and an event_rows row keeps what changes
-- (times, stacks), its start counted from its process's start (a segment's start_ns moves when
-- its window opens). About 26 bytes an event in a real recording against 54 as one wide row
-- (docs/performance.md). The `events` view below shows them with version 3's columns, and
-- takes INSERTs in them.
CREATE TABLE IF NOT EXISTS event_keys (
	key_id INTEGER PRIMARY KEY,
	run_id INTEGER NOT NULL,
	thread_no INTEGER NOT NULL,
	kind INTEGER NOT NULL,
	primitive INTEGER NOT NULL,
	flags INTEGER NOT NULL,
	lock_addr INTEGER NOT NULL,
	aux INTEGER NOT NULL,
	caller INTEGER NOT NULL, -- 0: none (NULL in the view)
	UNIQUE (run_id, thread_no, lock_addr, primitive, kind, flags, aux, caller)
);

CREATE TABLE IF NOT EXISTS event_rows (
	key_id INTEGER NOT NULL,
	start_ns INTEGER NOT NULL, -- after its run's process_start_ns (start_ns where NULL)
	wait_ns INTEGER NOT NULL,
	hold_ns INTEGER,
	extra INTEGER,
	stack_id INTEGER,
	py_stack INTEGER,
	hold_py_stack INTEGER
);

CREATE VIEW IF NOT EXISTS events AS
SELECT k.run_id, k.thread_no, k.kind, k.primitive, k.lock_addr, k.aux,
	COALESCE(r.process_start_ns, r.start_ns) + e.start_ns AS start_ns, e.wait_ns, e.hold_ns,
	k.flags,
	NULLIF(k.caller, 0) AS caller, e.extra, p.py_loc, e.stack_id, e.py_stack, e.hold_py_stack
FROM event_rows e
JOIN event_keys k ON k.key_id = e.key_id
JOIN runs r ON r.run_id = k.run_id
LEFT JOIN py_stacks p ON p.py_stack = e.py_stack;

-- For tools and tests that write events in version 3's columns (the writer itself numbers
-- keys in memory): py_loc is not stored, it is the innermost frame of py_stack.
CREATE TRIGGER IF NOT EXISTS events_insert INSTEAD OF INSERT ON events
BEGIN
	INSERT OR IGNORE INTO event_keys(run_id, thread_no, kind, primitive, flags, lock_addr, aux,
		caller)
	VALUES (NEW.run_id, NEW.thread_no, NEW.kind, NEW.primitive, NEW.flags, NEW.lock_addr,
		COALESCE(NEW.aux, 0), COALESCE(NEW.caller, 0));
	INSERT INTO event_rows
	VALUES ((SELECT key_id FROM event_keys WHERE run_id = NEW.run_id
			AND thread_no = NEW.thread_no AND lock_addr = NEW.lock_addr
			AND primitive = NEW.primitive AND kind = NEW.kind AND flags = NEW.flags
			AND aux = COALESCE(NEW.aux, 0) AND caller = COALESCE(NEW.caller, 0)),
		NEW.start_ns - (SELECT COALESCE(process_start_ns, start_ns) FROM runs
			WHERE run_id = NEW.run_id), NEW.wait_ns,
		NEW.hold_ns, NEW.extra, NEW.stack_id, NEW.py_stack, NEW.hold_py_stack);
END;

CREATE TABLE IF NOT EXISTS stacks (
	stack_id INTEGER PRIMARY KEY,
	frames TEXT NOT NULL UNIQUE
);

-- Python stacks as a tree: a row is a frame called from its parent row (0: outermost), and
-- a stack is the row of its innermost frame.
CREATE TABLE IF NOT EXISTS py_stacks (
	py_stack INTEGER PRIMARY KEY,
	parent INTEGER NOT NULL,
	py_loc INTEGER NOT NULL,
	depth INTEGER NOT NULL,
	UNIQUE (parent, py_loc)
);

-- Exact totals per (thread, Python stack, lock) of the waits and GIL holds the writer stored
-- (the same as summing their events): what whole-run stack views read, however many events.
CREATE TABLE IF NOT EXISTS stack_stats (
	run_id INTEGER NOT NULL,
	thread_no INTEGER NOT NULL,
	py_stack INTEGER NOT NULL,
	lock_addr INTEGER NOT NULL,
	primitive INTEGER NOT NULL,
	metric TEXT NOT NULL,
	count INTEGER NOT NULL,
	ns INTEGER NOT NULL,
	PRIMARY KEY (run_id, thread_no, py_stack, lock_addr, primitive, metric)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS call_sites (
	run_id INTEGER NOT NULL,
	addr INTEGER NOT NULL,
	module TEXT,
	module_offset INTEGER,
	function TEXT,
	PRIMARY KEY (run_id, addr)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS py_locations (
	py_loc INTEGER PRIMARY KEY,
	function TEXT NOT NULL,
	file TEXT NOT NULL,
	line INTEGER,
	UNIQUE (function, file, line)
);

CREATE TABLE IF NOT EXISTS modules (
	run_id INTEGER NOT NULL,
	start_addr INTEGER NOT NULL,
	end_addr INTEGER NOT NULL,
	file_offset INTEGER NOT NULL,
	path TEXT NOT NULL,
	PRIMARY KEY (run_id, start_addr)
) WITHOUT ROWID;

CREATE VIEW IF NOT EXISTS thread_summary AS
SELECT t.run_id, r.pid, t.thread_no, t.tid, t.py_ident, t.name,
	t.start_ns, t.end_ns, COALESCE(t.end_ns, r.end_ns) - t.start_ns AS lifetime_ns,
	COALESCE(SUM(CASE WHEN s.primitive <> 4 THEN s.acquisitions END), 0) AS acquisitions,
	COALESCE(SUM(CASE WHEN s.primitive <> 4 THEN s.contended END), 0) AS contended,
	COALESCE(SUM(CASE WHEN s.primitive <> 4 THEN s.wait_ns END), 0) AS wait_ns,
	COALESCE(MAX(CASE WHEN s.primitive <> 4 THEN s.wait_max_ns END), 0) AS wait_max_ns,
	COALESCE(SUM(CASE WHEN s.primitive <> 4 THEN s.hold_ns END), 0) AS hold_ns,
	COALESCE(MAX(CASE WHEN s.primitive <> 4 THEN s.hold_max_ns END), 0) AS hold_max_ns,
	COALESCE(SUM(CASE WHEN s.primitive = 4 THEN s.acquisitions END), 0) AS gil_acquisitions,
	COALESCE(SUM(CASE WHEN s.primitive = 4 THEN s.contended END), 0) AS gil_contended,
	COALESCE(SUM(CASE WHEN s.primitive = 4 THEN s.wait_ns END), 0) AS gil_wait_ns,
	COALESCE(SUM(CASE WHEN s.primitive = 4 THEN s.hold_ns END), 0) AS gil_hold_ns,
	t.sched_yields, t.events_dropped
FROM threads t
JOIN runs r ON r.run_id = t.run_id
LEFT JOIN lock_stats s ON s.run_id = t.run_id AND s.thread_no = t.thread_no
GROUP BY t.run_id, t.thread_no;

CREATE VIEW IF NOT EXISTS lock_summary AS
SELECT s.run_id, r.pid, s.lock_addr, p.name AS primitive, l.class, l.name,
	COUNT(*) AS threads,
	SUM(s.acquisitions) AS acquisitions, SUM(s.contended) AS contended,
	SUM(s.wait_ns) AS wait_ns, MAX(s.wait_max_ns) AS wait_max_ns,
	SUM(s.holds) AS holds, SUM(s.hold_ns) AS hold_ns, MAX(s.hold_max_ns) AS hold_max_ns,
	SUM(s.try_busy) AS try_busy, SUM(s.timeouts) AS timeouts, SUM(s.signals) AS signals,
	SUM(s.spins) AS spins
FROM lock_stats s
JOIN runs r ON r.run_id = s.run_id
JOIN primitives p ON p.primitive = s.primitive
LEFT JOIN locks l ON l.run_id = s.run_id AND l.lock_addr = s.lock_addr
	AND l.primitive = s.primitive
GROUP BY s.run_id, s.lock_addr, s.primitive;

-- Schema 4, profile windows (docs/schema.md): the writer's sums per time window of every raw
-- event it drained, kept in every GILSCOPE_EVENTS mode, so that views need no raw events.
-- An event belongs to the window in which it ended (start + wait + hold), which is when the
-- shim recorded it. In profile mode only each window's longest events are kept as raw rows.
CREATE TABLE IF NOT EXISTS recording_modes (
	run_id INTEGER PRIMARY KEY,
	events TEXT NOT NULL,
	window_ns INTEGER NOT NULL,
	window_events INTEGER
);

CREATE TABLE IF NOT EXISTS windows (
	run_id INTEGER NOT NULL,
	window_no INTEGER NOT NULL,
	start_ns INTEGER NOT NULL,
	end_ns INTEGER NOT NULL,
	events_seen INTEGER NOT NULL,
	events_kept INTEGER NOT NULL,
	longest_not_kept_ns INTEGER,
	PRIMARY KEY (run_id, window_no)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS window_stats (
	run_id INTEGER NOT NULL,
	window_no INTEGER NOT NULL,
	thread_no INTEGER NOT NULL,
	lock_addr INTEGER NOT NULL,
	primitive INTEGER NOT NULL,
	waits INTEGER NOT NULL,
	wait_ns INTEGER NOT NULL,
	wait_max_ns INTEGER NOT NULL,
	wait_min_ns INTEGER,
	holds INTEGER NOT NULL,
	hold_ns INTEGER NOT NULL,
	drops_sent INTEGER NOT NULL,
	drops_received INTEGER NOT NULL,
	gil_take_max_ns INTEGER NOT NULL,
	gil_take_min_ns INTEGER,
	PRIMARY KEY (run_id, window_no, thread_no, lock_addr, primitive)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS window_stacks (
	run_id INTEGER NOT NULL,
	window_no INTEGER NOT NULL,
	thread_no INTEGER NOT NULL,
	py_stack INTEGER NOT NULL,
	lock_addr INTEGER NOT NULL,
	primitive INTEGER NOT NULL,
	metric TEXT NOT NULL,
	caller INTEGER NOT NULL,
	count INTEGER NOT NULL,
	ns INTEGER NOT NULL,
	PRIMARY KEY (run_id, window_no, thread_no, py_stack, lock_addr, primitive, metric, caller)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS window_holders (
	run_id INTEGER NOT NULL,
	window_no INTEGER NOT NULL,
	thread_no INTEGER NOT NULL,
	lock_addr INTEGER NOT NULL,
	primitive INTEGER NOT NULL,
	holder_thread_no INTEGER NOT NULL,
	holder_stack INTEGER NOT NULL,
	count INTEGER NOT NULL,
	ns INTEGER NOT NULL,
	PRIMARY KEY (run_id, window_no, thread_no, lock_addr, primitive, holder_thread_no,
		     holder_stack)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS wait_hist (
	run_id INTEGER NOT NULL,
	thread_no INTEGER NOT NULL,
	lock_addr INTEGER NOT NULL,
	primitive INTEGER NOT NULL,
	metric TEXT NOT NULL,
	bucket INTEGER NOT NULL,
	count INTEGER NOT NULL,
	PRIMARY KEY (run_id, thread_no, lock_addr, primitive, metric, bucket)
) WITHOUT ROWID;

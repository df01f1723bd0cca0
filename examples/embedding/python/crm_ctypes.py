"""crm_ctypes - a small Python binding of crm's C API (include/crm/crm.h) over ctypes.

Standard library only. Load the shared library with `Crm("path/to/libcrm.so")`; every failure of
the C API becomes a CrmError carrying the status name and crm_last_error()'s message.
Money comes as int millionths (and as decimal.Decimal for convenience), times as int
microseconds since the Unix epoch (UTC), exactly as the C API gives them.
"""
import ctypes
import decimal
from ctypes import POINTER, Structure, byref, c_char, c_char_p, c_int, c_int64, c_size_t, c_uint32, c_uint64, c_void_p

INT64_MIN = -(2 ** 63)
# The CRM_C_API_VERSION whose struct layouts this module mirrors (include/crm/crm.h).
C_API_VERSION = 3

# crm_status
OK, ERR_INVALID_ARGUMENT, ERR_BUFFER_TOO_SMALL, ERR_PROGRAM, ERR_INPUT, ERR_STATE, ERR_INTERNAL = range(7)
RENDER_TEXT, RENDER_TEXT_COLOR, RENDER_JSON = range(3)
OUTCOMES = ["granted", "rejected", "control", "redeemed", "redeem_rejected", "expired", "held"]
SEVERITIES = ["error", "warning", "note"]


class CrmError(Exception):
    def __init__(self, status, status_name, message):
        super().__init__(f"{status_name}: {message}")
        self.status = status
        self.status_name = status_name
        self.message = message


class _Diagnostic(Structure):
    _fields_ = [("code", c_char_p), ("severity", c_int), ("file", c_char_p), ("line", c_uint32),
                ("column", c_uint32), ("end_line", c_uint32), ("end_column", c_uint32),
                ("message", c_char_p), ("help", c_char_p)]


class _Decision(Structure):
    _fields_ = [("outcome", c_int), ("outcome_name", c_char_p), ("event", c_char_p), ("user", c_char_p),
                ("strategy", c_char_p), ("reason", c_char_p), ("resource", c_char_p), ("channel", c_char_p),
                ("code", c_char_p), ("at_micros", c_int64), ("has_amount", c_int), ("amount_millionths", c_int64),
                ("has_sales", c_int), ("sales_millionths", c_int64), ("currency", c_char_p),
                ("has_granted_at", c_int), ("granted_at_micros", c_int64), ("released", c_int),
                ("held_at_micros", c_int64), ("json", c_char_p)]


class _RuntimeOptions(Structure):
    _fields_ = [("ledger_path", c_char_p), ("manual_commit", c_int), ("allow_program_change", c_int),
                ("allowed_lateness_micros", c_int64), ("dedup_window_micros", c_int64),
                ("max_schedule_runs", c_uint64), ("max_time_jump_micros", c_int64)]


def _s(b):
    return b.decode("utf-8") if b is not None else None


def _millionths(v):
    return decimal.Decimal(v).scaleb(-6)


class Crm:
    """The loaded library: makes programs and runtimes."""

    def __init__(self, path):
        lib = self.lib = ctypes.CDLL(path)
        H = c_void_p
        sig = {
            "crm_status_name": (c_char_p, [c_int]),
            "crm_last_error": (c_char_p, []),
            "crm_version": (c_char_p, []),
            "crm_api_version": (c_int, []),
            "crm_compile_options_new": (c_int, [POINTER(H)]),
            "crm_compile_options_free": (None, [H]),
            "crm_compile_options_add_include_dir": (c_int, [H, c_char_p]),
            "crm_compile_options_set_limit": (c_int, [H, c_int, c_uint64]),
            "crm_compile_files": (c_int, [POINTER(c_char_p), c_size_t, H, POINTER(H)]),
            "crm_compile_sources": (c_int, [POINTER(c_char_p), POINTER(c_char_p), POINTER(c_size_t), c_size_t, H,
                                            POINTER(H)]),
            "crm_compilation_free": (None, [H]),
            "crm_compilation_error_count": (c_size_t, [H]),
            "crm_compilation_warning_count": (c_size_t, [H]),
            "crm_compilation_diagnostic_count": (c_size_t, [H]),
            "crm_compilation_diagnostic": (c_int, [H, c_size_t, POINTER(_Diagnostic)]),
            "crm_compilation_render": (c_int, [H, c_int, POINTER(c_char), c_size_t, POINTER(c_size_t)]),
            "crm_compilation_program": (c_int, [H, POINTER(H)]),
            "crm_program_load": (c_int, [c_void_p, c_size_t, POINTER(H)]),
            "crm_program_free": (None, [H]),
            "crm_program_serialize": (c_int, [H, POINTER(c_char), c_size_t, POINTER(c_size_t)]),
            "crm_program_segment_count": (c_size_t, [H]),
            "crm_program_segment_name": (c_char_p, [H, c_size_t]),
            "crm_program_strategy_count": (c_size_t, [H]),
            "crm_program_strategy_name": (c_char_p, [H, c_size_t]),
            "crm_runtime_options_init": (None, [POINTER(_RuntimeOptions)]),
            "crm_runtime_new": (c_int, [H, POINTER(_RuntimeOptions), POINTER(H)]),
            "crm_runtime_free": (None, [H]),
            "crm_runtime_load_profile": (c_int, [H, c_char_p, c_size_t]),
            "crm_runtime_process_event": (c_int, [H, c_char_p, c_size_t, POINTER(H)]),
            "crm_runtime_finish": (c_int, [H, POINTER(H)]),
            "crm_runtime_commit": (c_int, [H]),
            "crm_runtime_audience": (c_int, [H, c_int64, POINTER(H)]),
            "crm_audience_free": (None, [H]),
            "crm_audience_count": (c_size_t, [H]),
            "crm_audience_entry": (c_int, [H, c_size_t, POINTER(c_char_p), POINTER(c_int64), POINTER(c_int)]),
            "crm_decisions_free": (None, [H]),
            "crm_decisions_count": (c_size_t, [H]),
            "crm_decisions_get": (c_int, [H, c_size_t, POINTER(_Decision)]),
            "crm_explain": (c_int, [H, c_char_p, c_size_t, c_char_p, c_size_t, c_char_p, c_int64, c_char_p,
                                    POINTER(H)]),
            "crm_explanation_free": (None, [H]),
            "crm_explanation_render": (c_int, [H, c_int, POINTER(c_char), c_size_t, POINTER(c_size_t)]),
        }
        for name, (res, args) in sig.items():
            f = getattr(lib, name)
            f.restype = res
            f.argtypes = args
        self.version = _s(lib.crm_version())
        if lib.crm_api_version() != C_API_VERSION:
            # The structs above would not match the library's: refuse rather than corrupt memory.
            raise RuntimeError(f"libcrm has C API version {lib.crm_api_version()}, this module mirrors {C_API_VERSION}")

    def check(self, status, allow=()):
        if status != OK and status not in allow:
            raise CrmError(status, _s(self.lib.crm_status_name(status)), _s(self.lib.crm_last_error()))
        return status

    def text(self, fn, *args):
        """Calls a (buf, cap, len) function twice: for the size, then for the text."""
        n = c_size_t(0)
        self.check(fn(*args, None, 0, byref(n)), allow=(ERR_BUFFER_TOO_SMALL,))
        buf = ctypes.create_string_buffer(n.value + 1)
        self.check(fn(*args, buf, len(buf), byref(n)))
        return buf.raw[:n.value]

    def compile_sources(self, modules, include_dirs=()):
        """modules: {module name: text}. Returns a Compilation (check .ok, .diagnostics)."""
        names = (c_char_p * len(modules))(*[k.encode() for k in modules])
        data = [v.encode() for v in modules.values()]
        texts = (c_char_p * len(modules))(*data)
        lengths = (c_size_t * len(modules))(*[len(d) for d in data])
        return self._compile(lambda opts, out: self.lib.crm_compile_sources(names, texts, lengths, len(modules),
                                                                             opts, out), include_dirs)

    def compile_files(self, paths, include_dirs=()):
        arr = (c_char_p * len(paths))(*[str(p).encode() for p in paths])
        return self._compile(lambda opts, out: self.lib.crm_compile_files(arr, len(paths), opts, out), include_dirs)

    def _compile(self, call, include_dirs):
        opts = c_void_p()
        self.check(self.lib.crm_compile_options_new(byref(opts)))
        try:
            for d in include_dirs:
                self.check(self.lib.crm_compile_options_add_include_dir(opts, str(d).encode()))
            out = c_void_p()
            self.check(call(opts, byref(out)), allow=(ERR_PROGRAM,))
            return Compilation(self, out)
        finally:
            self.lib.crm_compile_options_free(opts)


class Compilation:
    def __init__(self, crm, handle):
        self.crm, self._h = crm, handle

    def __del__(self):
        self.crm.lib.crm_compilation_free(self._h)

    @property
    def ok(self):
        return self.crm.lib.crm_compilation_error_count(self._h) == 0

    @property
    def diagnostics(self):
        out = []
        for i in range(self.crm.lib.crm_compilation_diagnostic_count(self._h)):
            d = _Diagnostic()
            self.crm.check(self.crm.lib.crm_compilation_diagnostic(self._h, i, byref(d)))
            out.append({"code": _s(d.code), "severity": SEVERITIES[d.severity], "file": _s(d.file), "line": d.line,
                        "column": d.column, "message": _s(d.message), "help": _s(d.help)})
        return out

    def render(self, fmt=RENDER_TEXT):
        return self.crm.text(self.crm.lib.crm_compilation_render, self._h, fmt).decode()

    def program(self):
        out = c_void_p()
        self.crm.check(self.crm.lib.crm_compilation_program(self._h, byref(out)))
        return Program(self.crm, out)


class Program:
    def __init__(self, crm, handle):
        self.crm, self._h = crm, handle

    def __del__(self):
        self.crm.lib.crm_program_free(self._h)

    @property
    def strategies(self):
        lib = self.crm.lib
        return [_s(lib.crm_program_strategy_name(self._h, i)) for i in range(lib.crm_program_strategy_count(self._h))]

    @property
    def segments(self):
        lib = self.crm.lib
        return [_s(lib.crm_program_segment_name(self._h, i)) for i in range(lib.crm_program_segment_count(self._h))]

    def serialize(self):
        return self.crm.text(self.crm.lib.crm_program_serialize, self._h)

    def runtime(self, ledger_path=None, manual_commit=False, allowed_lateness_micros=0, dedup_window_micros=0,
                max_schedule_runs=0, max_time_jump_micros=0):
        o = _RuntimeOptions()
        self.crm.lib.crm_runtime_options_init(byref(o))
        if ledger_path:
            o.ledger_path = str(ledger_path).encode()
        o.manual_commit = int(manual_commit)
        o.allowed_lateness_micros = allowed_lateness_micros
        if dedup_window_micros:  # 0: the default (7 days)
            o.dedup_window_micros = dedup_window_micros
        if max_schedule_runs:  # 0: the default (100,000); 2**64 - 1: no limit
            o.max_schedule_runs = max_schedule_runs
        if max_time_jump_micros:  # 0: the default (366 days); 2**63 - 1: no limit
            o.max_time_jump_micros = max_time_jump_micros
        out = c_void_p()
        self.crm.check(self.crm.lib.crm_runtime_new(self._h, byref(o), byref(out)))
        return Runtime(self.crm, out)

    def explain(self, user, profiles="", events="", at_micros=INT64_MIN, event_id=None, fmt=RENDER_TEXT):
        p, e = profiles.encode(), events.encode()
        out = c_void_p()
        self.crm.check(self.crm.lib.crm_explain(self._h, p, len(p), e, len(e), user.encode(), at_micros,
                                                event_id.encode() if event_id else None, byref(out)))
        try:
            return self.crm.text(self.crm.lib.crm_explanation_render, out, fmt).decode()
        finally:
            self.crm.lib.crm_explanation_free(out)


class Runtime:
    def __init__(self, crm, handle):
        self.crm, self._h = crm, handle

    def close(self):
        if self._h:
            self.crm.lib.crm_runtime_free(self._h)
            self._h = None

    __del__ = close

    def load_profile(self, line):
        b = line.encode()
        self.crm.check(self.crm.lib.crm_runtime_load_profile(self._h, b, len(b)))

    def process_event(self, line):
        """Applies one event (a JSON line); returns its decisions as dicts."""
        b = line.encode()
        out = c_void_p()
        self.crm.check(self.crm.lib.crm_runtime_process_event(self._h, b, len(b), byref(out)))
        return self._decisions(out)

    def finish(self):
        out = c_void_p()
        self.crm.check(self.crm.lib.crm_runtime_finish(self._h, byref(out)))
        return self._decisions(out)

    def commit(self):
        self.crm.check(self.crm.lib.crm_runtime_commit(self._h))

    def audience(self, at_micros):
        lib, out = self.crm.lib, c_void_p()
        self.crm.check(lib.crm_runtime_audience(self._h, at_micros, byref(out)))
        try:
            result = {}
            for i in range(lib.crm_audience_count(out)):
                name, users = c_char_p(), c_int64()
                self.crm.check(lib.crm_audience_entry(out, i, byref(name), byref(users), None))
                result[_s(name.value)] = users.value
            return result
        finally:
            lib.crm_audience_free(out)

    def _decisions(self, handle):
        lib = self.crm.lib
        try:
            result = []
            for i in range(lib.crm_decisions_count(handle)):
                d = _Decision()
                self.crm.check(lib.crm_decisions_get(handle, i, byref(d)))
                result.append({
                    "outcome": OUTCOMES[d.outcome], "event": _s(d.event), "user": _s(d.user),
                    "strategy": _s(d.strategy), "reason": _s(d.reason), "resource": _s(d.resource),
                    "channel": _s(d.channel), "code": _s(d.code), "at_micros": d.at_micros,
                    "amount_millionths": d.amount_millionths if d.has_amount else None,
                    "amount": _millionths(d.amount_millionths) if d.has_amount else None,
                    "sales_millionths": d.sales_millionths if d.has_sales else None,
                    "currency": _s(d.currency), "json": _s(d.json)})
            return result
        finally:
            lib.crm_decisions_free(handle)

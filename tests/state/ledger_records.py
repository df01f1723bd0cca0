"""ledger_records.py - a ledger's decision records, as the shell tests compare them with what
`crm run` reported. Since schema version 9 a row's `json` holds only the members after `at`
(as a JSON object) when the row's columns give the others (runtime/state/ledger_json.h); a
whole record (TEXT starting `{"event":`, or a BLOB) is kept as it was reported. This rebuilds
each record as parsed JSON (dicts compare regardless of member order; `at` as the column's
instant), which is what the tests compare; crm itself renders the head again byte for byte.

    records(path) -> list of dicts, in ledger order
    canonical(line_or_dict) -> one text per record, for multisets and sorting
"""
import datetime
import json
import sqlite3

_UTC = datetime.timezone.utc


def _micros(text):
    t = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (t - datetime.datetime(1970, 1, 1, tzinfo=_UTC)) // datetime.timedelta(microseconds=1)


def records(path):
    db = sqlite3.connect(path)
    out = []
    for kind, unit, user, strategy, outcome, reason, resource, channel, code, at, j in db.execute(
            "SELECT kind, unit, user, strategy, outcome, reason, resource, channel, code, at, json "
            "FROM crm_ledger ORDER BY seq"):
        if isinstance(j, bytes):
            out.append(json.loads(j))
            continue
        if j.startswith('{"event":'):
            out.append(json.loads(j))
            continue
        r = {"event": unit if kind == 0 else None, "user": user, "strategy": strategy or None, "outcome": outcome,
             "reason": reason or None, "resource": resource or None, "channel": channel or None, "code": code or None,
             "at": at}
        r.update(json.loads(j))
        out.append(r)
    return out


def canonical(record):
    """A record (a reported line, or a dict from records()) as one comparable text."""
    r = json.loads(record) if isinstance(record, str) else dict(record)
    if isinstance(r.get("at"), str):
        r["at"] = _micros(r["at"])
    return json.dumps(r, sort_keys=True)

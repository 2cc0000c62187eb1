"""Memory: what agents remember (``memory`` in the spec), kept in the runtime store.

* :mod:`.tables`, :mod:`.schema`, :mod:`.migrations`: the SQL schema and its Alembic migrations;
* :mod:`.config`: a store's rules (:class:`~.config.StoreConfig`) and scope keys;
* :mod:`.entries`, :mod:`.service`: entries and :class:`~.service.Memory`, which reads and writes
  them under the rules (access, redaction by :mod:`.redact`, caps, expiry, compare-and-set);
* :mod:`.search`, :mod:`.embeddings`: full-text and semantic ranking;
* :mod:`.tools`, :mod:`.context`, :mod:`.agent`: what a worker's agent gets (tools, history and
  injected facts at the start of a task);
* :mod:`.stores`, :mod:`.admin`: the engine's and the operator's side (migrations at apply,
  sweeps, usage, export/import, forgetting a person).

See ``docs/memory.md``.
"""

"""Memory stores' data, kept in the runtime store's database (``memory`` in the spec).

* :mod:`.tables`, :mod:`.schema`, :mod:`.migrations`: the SQL schema and its Alembic migrations;
* :mod:`.config`: a store's rules (:class:`~.config.StoreConfig`, from the contract's
  ``MemoryValue``) and scope keys;
* :mod:`.entries`, :mod:`.service`: entries and :class:`~.service.Memory`, which reads and writes
  them under the rules (:mod:`.rules`: access, redaction by :mod:`.redact`, caps, expiry,
  compare-and-set);
* :mod:`.search`, :mod:`.embeddings`: full-text and semantic ranking;
* :mod:`.stores`, :mod:`.admin`: the engine's and the operator's side (migrations at apply,
  sweeps, usage, export/import, forgetting a person).

Part of the store layer (with the tasks' tables, it is the only runtime code that speaks SQL);
what an agent gets of its memory (tools, history, injected facts) is
:mod:`agentform.runtime.memory`, one layer up. See ``docs/memory.md``.
"""

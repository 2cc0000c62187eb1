"""The audit log: append-only, hash-chained records of every decision and side effect.

Home of milestone 2, step 3. It sits in the store's layer (its records live in the runtime
store) so the worker, the policy decision point and the host can all write to it. Empty until
then.
"""

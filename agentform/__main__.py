"""``python -m agentform`` runs the command line, exactly like the ``agentform`` script."""

from agentform.cli import main

main()

"""``python -m controlroom`` is the ``controlroom`` command."""

try:
    from controlroom.cli import main
except KeyboardInterrupt:  # Ctrl-C while Python was still loading us: no traceback
    raise SystemExit(130) from None

raise SystemExit(main())

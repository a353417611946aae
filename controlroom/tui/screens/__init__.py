"""The dashboard's screens and modals, one per module (imported where used, never here,
so opening the main screen does not pay for the audit or help screens)."""

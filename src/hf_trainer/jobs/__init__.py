"""Jobs: one backend protocol (base.py), two backends (local.py: processes on this machine; hub.py: HF Jobs)."""

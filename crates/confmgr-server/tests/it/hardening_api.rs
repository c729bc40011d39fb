//! Issue 22 (hardening): durations, AppRole destroy, KV list/data, role bodies.

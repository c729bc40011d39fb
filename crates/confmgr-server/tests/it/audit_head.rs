//! Issue 22 (hardening): keyed audit chain and its published head.

//! Issue 22 (hardening): HTTP-layer errors, legacy digests, health, dev root token, keyring cap.

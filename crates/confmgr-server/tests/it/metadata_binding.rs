//! Issue 22 (hardening): secret metadata bound under the keyring.

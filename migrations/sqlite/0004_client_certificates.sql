-- Client-certificate login (auth/cert/login): the certificate names a client accepts, and
-- the certificate behind each audited request. Keep in step with ../postgres/0004_client_certificates.sql.

-- json arrays of patterns ('*' globs); a client with all three empty accepts no certificate
alter table clients add column cert_common_names text not null default '[]';
alter table clients add column cert_dns_sans text not null default '[]';
alter table clients add column cert_uri_sans text not null default '[]';

-- subject and sha-256 fingerprint (lowercase hex) of the client certificate presented on
-- the connection; '' when none. Part of the hashed chain only when not empty, so events
-- sealed before this migration verify unchanged.
alter table audit_events add column cert_subject text not null default '';
alter table audit_events add column cert_fingerprint text not null default '';

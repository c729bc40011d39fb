-- AppRole secret_ids may narrow where their login tokens are used from (Vault's
-- token_bound_cidrs on secret-id and custom-secret-id): a token gets the secret's blocks
-- that lie inside its role's token_bound_cidrs. Keep in step with
-- ../sqlite/0022_secret_id_token_cidrs.sql.
alter table client_secrets add column token_bound_cidrs text not null default '[]'; -- json array; empty = the role's

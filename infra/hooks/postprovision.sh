#!/bin/sh
# Run by `azd provision` / `azd up` after the infrastructure exists, as you (the PostgreSQL Entra
# administrator): creates the function app's own PostgreSQL role for its managed identity and lets
# it create tables in the neotoma database's public schema, so it migrates (and owns) its own
# tables and nothing else; the extensions its migrations use are created here, by you. The role
# has no CREATEROLE, no CREATEDB, no BYPASSRLS and is not an administrator. Grants rather than a
# change of database owner: an Entra administrator is not a superuser and may not hand a database
# to a role it is not a member of. Idempotent.
#
# Needs: az (signed in as the administrator), psql, and your IP admitted (ADMIN_CLIENT_IP).
set -eu

value() { azd env get-value "$1" 2>/dev/null || true; }
host="$(value POSTGRES_HOST)"
database="$(value POSTGRES_DATABASE)"
app="$(value AZURE_FUNCTION_APP_NAME)"
admin="$(value POSTGRES_ADMIN_NAME)"
if [ -z "$host" ] || [ -z "$app" ] || [ -z "$admin" ]; then
  echo "postprovision: POSTGRES_HOST, AZURE_FUNCTION_APP_NAME or POSTGRES_ADMIN_NAME is not set in the azd environment" >&2
  exit 1
fi
command -v psql >/dev/null || { echo "postprovision: psql is missing (apt-get install postgresql-client)" >&2; exit 1; }

# An Entra access token is the administrator's password; it is never written anywhere.
PGPASSWORD="$(az account get-access-token --resource-type oss-rdbms --query accessToken -o tsv)"
export PGPASSWORD

psql "host=$host port=${POSTGRES_PORT:-5432} dbname=postgres user=$admin sslmode=${POSTGRES_SSLMODE:-require}" \
  -v ON_ERROR_STOP=1 -v app="$app" -v db="$database" <<'SQL'
SELECT * FROM pgaadauth_create_principal(:'app', false, false)
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app');
GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"app";
\connect :"db"
GRANT USAGE, CREATE ON SCHEMA public TO :"app";
-- The extensions the migrations use (allow-listed in azure.extensions by the Bicep); the app's role
-- may not create them itself.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;
SQL
echo "postprovision: role \"$app\" may create its tables in database \"$database\""

#!/bin/sh
# Run by `azd provision` / `azd up` after the infrastructure exists, as you (the PostgreSQL Entra
# administrator): creates the function app's own PostgreSQL role for its managed identity and makes
# it the owner of the neotoma database, so it can migrate its own tables. The role has no
# CREATEROLE, no CREATEDB, no BYPASSRLS and is not an administrator. Idempotent.
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

psql "host=$host port=5432 dbname=postgres user=$admin sslmode=require" -v ON_ERROR_STOP=1 -v app="$app" -v db="$database" <<'SQL'
SELECT * FROM pgaadauth_create_principal(:'app', false, false)
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app');
ALTER DATABASE :"db" OWNER TO :"app";
SQL
echo "postprovision: role \"$app\" owns database \"$database\""

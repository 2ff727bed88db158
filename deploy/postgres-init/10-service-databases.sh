#!/usr/bin/env bash
# One database and one login role per service, each role owning only its own database, so a
# service (or a leaked credential) cannot read or change another service's data.
#
# The postgres image runs this once, when it initialises an empty data directory; changing a
# password here later does nothing to an existing volume (use ALTER ROLE, or recreate the
# volume). The image may source this file rather than execute it, so it neither exits nor
# changes shell options.
#
# Passwords are handed to psql as variables and quoted by psql (:'password'), so any
# character is safe in SQL. They also appear inside the services' postgresql:// URLs, where
# characters such as @ : / ? # % would have to be percent-encoded: keep them URL-safe.

for service in payments records performers; do
    password_var="${service^^}_DB_PASSWORD"
    password="${!password_var:?${password_var} must be set for the postgres container}"
    psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
        --set=name="$service" --set=password="$password" <<'SQL'
CREATE ROLE :"name" LOGIN PASSWORD :'password';
CREATE DATABASE :"name" OWNER :"name";
-- New databases grant CONNECT to PUBLIC; only the owning role (and the superuser) may connect.
REVOKE ALL ON DATABASE :"name" FROM PUBLIC;
SQL
done
unset service password_var password

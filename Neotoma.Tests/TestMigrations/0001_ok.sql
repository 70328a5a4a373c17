CREATE TABLE migration_probe_ok (id int PRIMARY KEY);

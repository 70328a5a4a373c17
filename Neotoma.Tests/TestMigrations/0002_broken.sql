CREATE TABLE migration_probe_half (id int PRIMARY KEY);
SELECT 1 / 0;

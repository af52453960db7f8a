-- A database made by mod_pdshare's first schema version (pdsharectl migrate 1),
-- with a little data. tests/test_upgrade.py upgrades it in place. Never edit.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE pds_schema_version (version INTEGER NOT NULL);
INSERT INTO pds_schema_version VALUES(1);
CREATE TABLE pds_producers ( username TEXT PRIMARY KEY, display_name TEXT, avatar_url TEXT, header_url TEXT, theme_accent TEXT, theme_background TEXT, profile_url TEXT, created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
INSERT INTO pds_producers VALUES('alice','Alice From V1',NULL,NULL,'#123456','#000000',NULL,1700000000,1700000000);
CREATE TABLE pds_tracks ( id TEXT PRIMARY KEY, owner TEXT NOT NULL, title TEXT NOT NULL, bpm DOUBLE PRECISION, musical_key TEXT, artwork_url TEXT, bucket TEXT, alias TEXT, group_id TEXT, version INTEGER NOT NULL DEFAULT 1, sharing_status TEXT NOT NULL DEFAULT 'private', created_at BIGINT NOT NULL, updated_at BIGINT NOT NULL);
INSERT INTO pds_tracks VALUES('t00000000000000v1','alice','Old Song',120.0,'A minor',NULL,'Archive','old-song','grp1',1,'released',1700000000,1700000000);
CREATE TABLE pds_files ( id TEXT PRIMARY KEY, track_id TEXT NOT NULL, owner TEXT NOT NULL, category TEXT NOT NULL, dropbox_path TEXT, name TEXT NOT NULL, format TEXT, size BIGINT, created_at BIGINT NOT NULL);
INSERT INTO pds_files VALUES('f00000000000000v1','t00000000000000v1','alice','master','/PRODUCER-DASHBOARD/bounces/old.wav','old.wav','wav',1000,1700000000);
CREATE TABLE pds_collaborators ( id TEXT PRIMARY KEY, track_id TEXT NOT NULL, owner TEXT NOT NULL, name TEXT NOT NULL, email TEXT, avatar_url TEXT, role TEXT, username TEXT, created_at BIGINT NOT NULL);
INSERT INTO pds_collaborators VALUES('c00000000000000v1','t00000000000000v1','alice','Veteran Vocalist',NULL,NULL,'vocals',NULL,1700000000);
CREATE TABLE pds_shares ( id TEXT PRIMARY KEY, owner TEXT NOT NULL, token_selector TEXT NOT NULL UNIQUE, token TEXT NOT NULL, title TEXT, bucket TEXT, perm_bounces INTEGER NOT NULL, perm_stems INTEGER NOT NULL, perm_projects INTEGER NOT NULL, files_restricted INTEGER NOT NULL DEFAULT 0, expires_at BIGINT, revoked_at BIGINT, created_at BIGINT NOT NULL);
INSERT INTO pds_shares VALUES('s00000000000000v1','alice','v1v1v1v1v1','v1v1v1v1v1AAAAAAAAAAAAAAAAAAAAAA','From V1',NULL,1,1,0,0,NULL,NULL,1700000000);
CREATE TABLE pds_share_tracks ( share_id TEXT NOT NULL, track_id TEXT NOT NULL, position INTEGER NOT NULL, PRIMARY KEY (share_id, track_id));
INSERT INTO pds_share_tracks VALUES('s00000000000000v1','t00000000000000v1',0);
CREATE TABLE pds_share_files ( share_id TEXT NOT NULL, file_id TEXT NOT NULL, PRIMARY KEY (share_id, file_id));
CREATE TABLE pds_events ( share_id TEXT NOT NULL, track_id TEXT, file_id TEXT, kind TEXT NOT NULL, category TEXT, created_at BIGINT NOT NULL);
INSERT INTO pds_events VALUES('s00000000000000v1',NULL,NULL,'view',NULL,1700000001);
INSERT INTO pds_events VALUES('s00000000000000v1',NULL,NULL,'view',NULL,1700000002);
INSERT INTO pds_events VALUES('s00000000000000v1','t00000000000000v1','f00000000000000v1','download','master',1700000003);
CREATE INDEX pds_tracks_owner ON pds_tracks (owner, created_at);
CREATE INDEX pds_files_track ON pds_files (track_id);
CREATE INDEX pds_collaborators_track ON pds_collaborators (track_id);
CREATE INDEX pds_shares_owner ON pds_shares (owner, created_at);
COMMIT;

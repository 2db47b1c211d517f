-- Workspaces: persistent storage spaces in the platform's S3-compatible
-- object store, the organization's (`org`) or a member's (`personal`).
-- latchkey keeps their records and decides who may use them; the objects
-- live in the store under the workspace's storage prefix, never here, and
-- deleting a record leaves them where they are.

-- `projects(org_id, id)` is unique already (`id` is); the index lets a
-- workspace's project be referenced together with its organization, so
-- that it can only be a project of the same organization.
CREATE UNIQUE INDEX projects_org_id ON projects(org_id, id);

CREATE TABLE workspaces (
    id                 TEXT COLLATE "C" PRIMARY KEY,   -- wsp_…
    org_id             TEXT COLLATE "C" NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    kind               TEXT NOT NULL CHECK (kind IN ('org', 'personal')),
    -- personal: the member it belongs to; org: NULL.
    owner_user_id      TEXT COLLATE "C" REFERENCES users(id) ON DELETE CASCADE,
    -- Deleting a project is refused while workspaces belong to it (as while
    -- active keys do), so this never dangles.
    project_id         TEXT COLLATE "C",
    name               TEXT NOT NULL,
    -- Where its objects live: `orgs/{orgId}/workspaces/{wspId}/`, never
    -- changed (workspaces_immutable).
    storage_prefix     TEXT COLLATE "C" NOT NULL UNIQUE,
    quota_bytes        BIGINT CHECK (quota_bytes IS NULL OR quota_bytes > 0),   -- NULL: no quota
    created_by_user_id TEXT COLLATE "C",
    created_by_key_id  TEXT COLLATE "C",
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    CHECK ((kind = 'org' AND owner_user_id IS NULL) OR (kind = 'personal' AND owner_user_id IS NOT NULL)),
    CHECK (storage_prefix = 'orgs/' || org_id || '/workspaces/' || id || '/'),
    FOREIGN KEY (org_id, project_id) REFERENCES projects(org_id, id)
);
-- A name is unique among the organization's workspaces, and among each
-- member's personal ones.
CREATE UNIQUE INDEX workspaces_name ON workspaces(org_id, coalesce(owner_user_id, ''), name);
CREATE INDEX workspaces_by_org ON workspaces(org_id, id);
CREATE INDEX workspaces_by_owner ON workspaces(owner_user_id);
CREATE INDEX workspaces_by_project ON workspaces(org_id, project_id);

CREATE FUNCTION workspaces_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id IS DISTINCT FROM OLD.id OR NEW.org_id IS DISTINCT FROM OLD.org_id OR NEW.kind IS DISTINCT FROM OLD.kind
        OR NEW.owner_user_id IS DISTINCT FROM OLD.owner_user_id
        OR NEW.storage_prefix IS DISTINCT FROM OLD.storage_prefix THEN
        RAISE EXCEPTION 'a workspace''s id, organization, kind, owner and storage prefix never change';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER workspaces_immutable BEFORE UPDATE ON workspaces
    FOR EACH ROW EXECUTE FUNCTION workspaces_immutable();

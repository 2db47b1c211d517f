-- Runtype profile: products and their surfaces (organization-owned), and the
-- surface a key belongs to.
CREATE TABLE products (
    id         TEXT COLLATE "C" PRIMARY KEY,
    org_id     TEXT COLLATE "C" NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX products_by_org ON products(org_id, id);

CREATE TABLE surfaces (
    id         TEXT COLLATE "C" PRIMARY KEY,
    org_id     TEXT COLLATE "C" NOT NULL REFERENCES orgs(id) ON DELETE CASCADE,
    product_id TEXT COLLATE "C" NOT NULL REFERENCES products(id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX surfaces_by_product ON surfaces(product_id, id);

ALTER TABLE api_keys ADD COLUMN surface_id TEXT COLLATE "C" REFERENCES surfaces(id);

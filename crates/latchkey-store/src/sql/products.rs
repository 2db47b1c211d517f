//! Runtype products and surfaces.

use async_trait::async_trait;
use latchkey_core::id::{OrgId, ProductId, SurfaceId};

use super::rows::{product, surface};
use super::{Dialect, SqlStore, commit, page_limit, query};
use crate::{AuditEvent, Page, Product, ProductStore, StoreResult, Surface};

#[async_trait]
impl<D: Dialect> ProductStore for SqlStore<D> {
    async fn insert_product(&self, p: &Product, event: &AuditEvent) -> StoreResult<()> {
        let mut tx = D::begin_write(&self.pool).await?;
        query::<D>("INSERT INTO products (id, org_id, name, created_at) VALUES ($1, $2, $3, $4)")
            .bind(&p.id)
            .bind(&p.org_id)
            .bind(&p.name)
            .bind(p.created_at)
            .execute(&mut *tx)
            .await?;
        commit::<D>(tx, std::slice::from_ref(event)).await
    }

    async fn get_product(&self, org_id: &OrgId, id: &ProductId) -> StoreResult<Option<Product>> {
        let row = query::<D>("SELECT id, org_id, name, created_at FROM products WHERE org_id = $1 AND id = $2")
            .bind(org_id)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(product).transpose()
    }

    async fn list_products(&self, org_id: &OrgId, page: &Page) -> StoreResult<Vec<Product>> {
        let rows = query::<D>(
            "SELECT id, org_id, name, created_at FROM products \
             WHERE org_id = $1 AND ($2 IS NULL OR id < $2) ORDER BY id DESC LIMIT $3",
        )
        .bind(org_id)
        .bind(&page.before)
        .bind(page_limit(page) + 1)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(product).collect()
    }

    async fn insert_surface(&self, s: &Surface, event: &AuditEvent) -> StoreResult<()> {
        let mut tx = D::begin_write(&self.pool).await?;
        query::<D>("INSERT INTO surfaces (id, org_id, product_id, name, created_at) VALUES ($1, $2, $3, $4, $5)")
            .bind(&s.id)
            .bind(&s.org_id)
            .bind(&s.product_id)
            .bind(&s.name)
            .bind(s.created_at)
            .execute(&mut *tx)
            .await?;
        commit::<D>(tx, std::slice::from_ref(event)).await
    }

    async fn get_surface(
        &self,
        org_id: &OrgId,
        product_id: &ProductId,
        id: &SurfaceId,
    ) -> StoreResult<Option<Surface>> {
        let row = query::<D>(
            "SELECT id, org_id, product_id, name, created_at FROM surfaces \
             WHERE org_id = $1 AND product_id = $2 AND id = $3",
        )
        .bind(org_id)
        .bind(product_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(surface).transpose()
    }

    async fn list_surfaces(&self, org_id: &OrgId, product_id: &ProductId, page: &Page) -> StoreResult<Vec<Surface>> {
        let rows = query::<D>(
            "SELECT id, org_id, product_id, name, created_at FROM surfaces \
             WHERE org_id = $1 AND product_id = $2 AND ($3 IS NULL OR id < $3) ORDER BY id DESC LIMIT $4",
        )
        .bind(org_id)
        .bind(product_id)
        .bind(&page.before)
        .bind(page_limit(page) + 1)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(surface).collect()
    }
}

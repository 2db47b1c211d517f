//! The compatibility profiles: Runloop (`/v1/apikeys`,
//! `/v1/restricted_keys`) and Runtype (`/v1/products`, their surfaces and
//! surface keys).

use latchkey_api_types::Paged;
use latchkey_api_types::runloop::{
    ApiKeyCreateParameters, ApiKeyCreatedView, RestrictedKeyCreateParameters, RestrictedKeyCreatedView,
};
use latchkey_api_types::runtype::{
    CreateProduct, CreateSurface, CreateSurfaceKey, ProductView, SurfaceKeyView, SurfaceView,
};

use crate::{Client, Error, PageRequest, seg};

impl Client {
    /// `POST /v1/apikeys` (Runloop): an `ak_…` key with the caller's grants.
    pub async fn runloop_create_api_key(&self, body: &ApiKeyCreateParameters) -> Result<ApiKeyCreatedView, Error> {
        self.call(self.post("/v1/apikeys", body)).await
    }

    /// `POST /v1/restricted_keys` (Runloop): an `rk_…` key with structured scopes.
    pub async fn runloop_create_restricted_key(
        &self,
        body: &RestrictedKeyCreateParameters,
    ) -> Result<RestrictedKeyCreatedView, Error> {
        self.call(self.post("/v1/restricted_keys", body)).await
    }

    /// `POST /v1/products` (Runtype)
    pub async fn create_product(&self, body: &CreateProduct) -> Result<ProductView, Error> {
        self.call(self.post("/v1/products", body)).await
    }

    /// `GET /v1/products` (Runtype)
    pub async fn products(&self, page: &PageRequest) -> Result<Paged<ProductView>, Error> {
        self.call(self.get("/v1/products").query(page)).await
    }

    /// `GET /v1/products/{id}` (Runtype)
    pub async fn product(&self, id: &str) -> Result<ProductView, Error> {
        self.call(self.get(&format!("/v1/products/{}", seg(id)))).await
    }

    /// `POST /v1/products/{id}/surfaces` (Runtype)
    pub async fn create_surface(&self, product_id: &str, body: &CreateSurface) -> Result<SurfaceView, Error> {
        self.call(self.post(&format!("/v1/products/{}/surfaces", seg(product_id)), body)).await
    }

    /// `GET /v1/products/{id}/surfaces` (Runtype)
    pub async fn surfaces(&self, product_id: &str, page: &PageRequest) -> Result<Paged<SurfaceView>, Error> {
        self.call(self.get(&format!("/v1/products/{}/surfaces", seg(product_id))).query(page)).await
    }

    /// `GET /v1/products/{id}/surfaces/{surfaceId}` (Runtype)
    pub async fn surface(&self, product_id: &str, surface_id: &str) -> Result<SurfaceView, Error> {
        self.call(self.get(&format!("/v1/products/{}/surfaces/{}", seg(product_id), seg(surface_id)))).await
    }

    /// `POST /v1/products/{id}/surfaces/{surfaceId}/keys` (Runtype): an
    /// `sk_live_`/`sk_test_` key, shown once.
    pub async fn create_surface_key(
        &self,
        product_id: &str,
        surface_id: &str,
        body: &CreateSurfaceKey,
    ) -> Result<SurfaceKeyView, Error> {
        let path = format!("/v1/products/{}/surfaces/{}/keys", seg(product_id), seg(surface_id));
        self.call(self.post(&path, body)).await
    }
}

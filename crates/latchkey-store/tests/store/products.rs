//! `ProductStore`: Runtype products and their surfaces, per organization.

use std::sync::Arc;

use latchkey_core::id::ProductId;
use latchkey_store::Store;

use crate::fixtures::{ev, event, logged, page, page_before, product, surface, world};

store_tests! {
    products_are_kept_per_organization,
    surfaces_belong_to_a_product,
}

async fn products_are_kept_per_organization(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let (other, _) = w.other_org(&*store, "bob@example.com").await;
    let created = event(&w.org.id, "product.create");
    let first = product(&w.org.id, "one");
    store.insert_product(&first, &created).await.unwrap();
    assert!(logged(&*store, &created).await);
    let (second, third, theirs) = (product(&w.org.id, "two"), product(&w.org.id, "three"), product(&other.id, "x"));
    for p in [&second, &third, &theirs] {
        store.insert_product(p, &ev()).await.unwrap();
    }

    assert_eq!(store.get_product(&w.org.id, &first.id).await.unwrap(), Some(first.clone()));
    assert_eq!(store.get_product(&other.id, &first.id).await.unwrap(), None);
    assert_eq!(store.get_product(&w.org.id, &theirs.id).await.unwrap(), None);
    let mine = [third, second.clone(), first];
    assert_eq!(store.list_products(&w.org.id, &page(10)).await.unwrap(), mine);
    assert_eq!(store.list_products(&w.org.id, &page(1)).await.unwrap(), mine[..2]);
    assert_eq!(store.list_products(&w.org.id, &page_before(1, &second.id)).await.unwrap(), mine[2..]);
    assert_eq!(store.list_products(&other.id, &page(10)).await.unwrap(), [theirs]);
}

async fn surfaces_belong_to_a_product(store: Arc<dyn Store>) {
    let w = world(&*store).await;
    let (other, _) = w.other_org(&*store, "bob@example.com").await;
    let (shop, blog) = (product(&w.org.id, "shop"), product(&w.org.id, "blog"));
    store.insert_product(&shop, &ev()).await.unwrap();
    store.insert_product(&blog, &ev()).await.unwrap();
    let created = event(&w.org.id, "surface.create");
    let first = surface(&w.org.id, &shop.id, "web");
    store.insert_surface(&first, &created).await.unwrap();
    assert!(logged(&*store, &created).await);
    let (second, third) = (surface(&w.org.id, &shop.id, "ios"), surface(&w.org.id, &shop.id, "android"));
    let blogs = surface(&w.org.id, &blog.id, "web");
    for s in [&second, &third, &blogs] {
        store.insert_surface(s, &ev()).await.unwrap();
    }

    assert_eq!(store.get_surface(&w.org.id, &shop.id, &first.id).await.unwrap(), Some(first.clone()));
    assert_eq!(store.get_surface(&w.org.id, &blog.id, &first.id).await.unwrap(), None);
    assert_eq!(store.get_surface(&other.id, &shop.id, &first.id).await.unwrap(), None);
    let shops = [third, second.clone(), first];
    assert_eq!(store.list_surfaces(&w.org.id, &shop.id, &page(10)).await.unwrap(), shops);
    assert_eq!(store.list_surfaces(&w.org.id, &shop.id, &page(1)).await.unwrap(), shops[..2]);
    assert_eq!(store.list_surfaces(&w.org.id, &shop.id, &page_before(1, &second.id)).await.unwrap(), shops[2..]);
    assert_eq!(store.list_surfaces(&w.org.id, &blog.id, &page(10)).await.unwrap(), [blogs]);
    assert_eq!(store.list_surfaces(&other.id, &shop.id, &page(10)).await.unwrap(), []);

    // The product must exist.
    let orphan = surface(&w.org.id, &ProductId::from("prd_missing"), "lost");
    let late = event(&w.org.id, "surface.create.refused");
    assert!(store.insert_surface(&orphan, &late).await.is_err());
    assert_eq!(store.get_surface(&w.org.id, &ProductId::from("prd_missing"), &orphan.id).await.unwrap(), None);
    assert!(!logged(&*store, &late).await);
}

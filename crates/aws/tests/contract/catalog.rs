//! Catalog reads (BatchGetItem) and writes (PutItem) of the flat product items.

use aws_sdk_dynamodb::types::AttributeValue;
use saga_aws::{DynamoStore, TableName};
use saga_core::fixtures::product;
use saga_core::order::Sku;
use saga_core::ports::{Catalog, CatalogAdmin, StoreError};

use crate::support::Moto;

fn skus(names: &[&str]) -> Vec<Sku> {
    names.iter().map(|s| Sku::parse(s).unwrap()).collect()
}

#[tokio::test]
async fn products_are_read_in_request_order_and_unknown_skus_are_absent() {
    let moto = Moto::connect().await;
    let tables = moto.tables(&[TableName::Products]).await;
    let store = DynamoStore::from_client(moto.dynamodb(), tables.clone());
    for p in [
        product("SKU-A", "A", 100, 1),
        product("SKU-B", "B", 250, 2),
        product("SKU-C", "C", 999, 3),
    ] {
        store.upsert_product(&p).await.unwrap();
    }

    let found = store
        .products(&skus(&["SKU-C", "SKU-X", "SKU-A", "SKU-C"]))
        .await
        .unwrap();

    let view: Vec<(&str, i64, i64)> = found
        .iter()
        .map(|p| (p.sku.as_str(), p.price.minor_units(), p.stock))
        .collect();
    assert_eq!(
        view,
        vec![("SKU-C", 999, 3), ("SKU-A", 100, 1), ("SKU-C", 999, 3)],
        "as MemoryStore: one per requested SKU that exists"
    );
    assert!(store.products(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn products_are_stored_flat_and_upserts_replace() {
    let moto = Moto::connect().await;
    let tables = moto.tables(&[TableName::Products]).await;
    let store = DynamoStore::from_client(moto.dynamodb(), tables.clone());
    store
        .upsert_product(&product("SKU-1", "Old", 100, 5))
        .await
        .unwrap();
    store
        .upsert_product(&product("SKU-1", "Beans", 1999, 7))
        .await
        .unwrap();

    let item = moto
        .raw_item(tables.name(TableName::Products).unwrap(), "sku", "SKU-1")
        .await
        .unwrap();
    assert_eq!(item["name"], AttributeValue::S("Beans".into()));
    assert_eq!(item["priceCents"], AttributeValue::N("1999".into()));
    assert_eq!(item["currency"], AttributeValue::S("EUR".into()));
    assert_eq!(item["stock"], AttributeValue::N("7".into()));
    assert_eq!(item.len(), 5, "{item:?}");
}

#[tokio::test]
async fn more_than_one_hundred_skus_take_several_batches() {
    let moto = Moto::connect().await;
    let tables = moto.tables(&[TableName::Products]).await;
    let store = DynamoStore::from_client(moto.dynamodb(), tables.clone());
    let names: Vec<String> = (0..130).map(|i| format!("SKU-{i:03}")).collect();
    for (i, n) in names.iter().enumerate() {
        store
            .upsert_product(&product(n, n, 100 + i as i64, 1))
            .await
            .unwrap();
    }
    moto.recorder.take();

    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let found = store.products(&skus(&refs)).await.unwrap();

    assert_eq!(found.len(), 130);
    assert_eq!(found[129].price.minor_units(), 229);
    let batches = moto
        .calls()
        .iter()
        .filter(|c| c.action == "dynamodb:BatchGetItem")
        .count();
    assert_eq!(batches, 2, "100 keys per BatchGetItem");
}

#[tokio::test]
async fn an_unreadable_product_is_reported_as_corrupt_not_skipped() {
    let moto = Moto::connect().await;
    let tables = moto.tables(&[TableName::Products]).await;
    let table = tables.name(TableName::Products).unwrap().to_owned();
    let store = DynamoStore::from_client(moto.dynamodb(), tables);
    moto.put_raw_item(
        &table,
        [
            ("sku", AttributeValue::S("SKU-1".into())),
            ("name", AttributeValue::S("Beans".into())),
            ("priceCents", AttributeValue::S("19.99".into())),
            ("currency", AttributeValue::S("EUR".into())),
            ("stock", AttributeValue::N("1".into())),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
    )
    .await;

    let err = store.products(&skus(&["SKU-1"])).await.unwrap_err();

    assert!(
        matches!(
            err,
            StoreError::Corrupt {
                operation: "products.get",
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.error_name(), "InternalError");
}

#[tokio::test]
async fn seeding_keeps_the_stock_of_existing_products_unless_reset() {
    let moto = Moto::connect().await;
    let tables = moto.tables(&[TableName::Products]).await;
    let store = DynamoStore::from_client(moto.dynamodb(), tables.clone());
    store
        .seed_product(&product("SKU-1", "Beans", 1999, 10), false)
        .await
        .unwrap();
    // Three units sold since, then the catalog is seeded again with a new price.
    store
        .upsert_product(&product("SKU-1", "Beans", 1999, 7))
        .await
        .unwrap();
    store
        .seed_product(&product("SKU-1", "Beans v2", 2199, 10), false)
        .await
        .unwrap();

    let p = store.products(&skus(&["SKU-1"])).await.unwrap().remove(0);
    assert_eq!(
        (p.name.as_str(), p.price.minor_units(), p.stock),
        ("Beans v2", 2199, 7),
        "stock kept"
    );

    store
        .seed_product(&product("SKU-1", "Beans v2", 2199, 10), true)
        .await
        .unwrap();
    assert_eq!(
        store.products(&skus(&["SKU-1"])).await.unwrap()[0].stock,
        10,
        "--reset-stock overwrites"
    );
}

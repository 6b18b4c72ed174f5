//! Load a catalog JSON file into the products table (existing products keep
//! their stock unless `--reset-stock`):
//!
//! ```text
//! cargo run -p saga-aws --bin seed-catalog -- --table saga-products --file catalog.json
//! ```
//!
//! The file is `[{"sku", "name", "priceCents", "currency", "stock"}]`; every entry
//! is validated before anything is written. AWS credentials, region and
//! `AWS_ENDPOINT_URL` come from the usual SDK sources.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use saga_aws::{DynamoStore, TableName, Tables};

const USAGE: &str =
    "usage: seed-catalog --table NAME --file catalog.json [--reset-stock] [--dry-run]

Load a catalog JSON file into the DynamoDB products table. New products get the
file's stock; existing ones get name, price and currency updated and keep their
stock (it accounts for reserved and sold units).
  --table NAME    the products table
  --file PATH     a JSON array of {\"sku\",\"name\",\"priceCents\",\"currency\",\"stock\"}
  --reset-stock   also overwrite the stock of existing products
  --dry-run       validate the file only; write nothing";

#[derive(Debug)]
struct Args {
    table: String,
    file: PathBuf,
    reset_stock: bool,
    dry_run: bool,
}

impl Args {
    fn parse(mut args: impl Iterator<Item = String>) -> anyhow::Result<Option<Self>> {
        let (mut table, mut file, mut reset_stock, mut dry_run) = (None, None, false, false);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--table" => table = Some(args.next().context("--table needs a value")?),
                "--file" => {
                    file = Some(PathBuf::from(args.next().context("--file needs a value")?))
                }
                "--reset-stock" => reset_stock = true,
                "--dry-run" => dry_run = true,
                "-h" | "--help" => return Ok(None),
                other => bail!("unexpected argument {other:?}"),
            }
        }
        Ok(Some(Self {
            table: table.context("--table is required")?,
            file: file.context("--file is required")?,
            reset_stock,
            dry_run,
        }))
    }
}

async fn run(args: Args) -> anyhow::Result<usize> {
    let json = std::fs::read_to_string(&args.file)
        .with_context(|| format!("reading {}", args.file.display()))?;
    let products = saga_core::catalog::parse_catalog(&json)
        .with_context(|| format!("{} is not a valid catalog", args.file.display()))?;
    if args.dry_run {
        return Ok(products.len());
    }
    let sdk = saga_aws::load_sdk_config().await;
    let store = DynamoStore::new(&sdk, Tables::new().with(TableName::Products, &args.table));
    for p in &products {
        store
            .seed_product(p, args.reset_stock)
            .await
            .map_err(|e| anyhow::anyhow!(saga_core::ports::error_chain(&e)))
            .with_context(|| format!("writing {} to {}", p.sku.as_str(), args.table))?;
    }
    Ok(products.len())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            #[allow(clippy::print_stdout)]
            {
                println!("{USAGE}");
            }
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("seed-catalog: {e:#}\n\n{USAGE}");
            }
            return ExitCode::from(2);
        }
    };
    let dry_run = args.dry_run;
    let table = args.table.clone();
    match run(args).await {
        Ok(n) => {
            #[allow(clippy::print_stderr)]
            if dry_run {
                eprintln!("seed-catalog: {n} products are valid (dry run, nothing written)");
            } else {
                eprintln!("seed-catalog: upserted {n} products into {table}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            #[allow(clippy::print_stderr)]
            {
                eprintln!("seed-catalog: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}

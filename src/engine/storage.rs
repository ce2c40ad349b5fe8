//! Object storage: the stores behind `s3://`, `gs://` and `az://` table
//! paths and exports.
//!
//! A store is built per bucket (container) from the environment's
//! credentials and the workspace's `[storage]` settings, and registered with
//! the session's runtime, so DataFusion lists, prunes and reads those tables
//! as it does local folders (footers cached by path, size and e-tag). An
//! export to object storage is written to a local temporary file first and
//! then uploaded; the object appears under its key only when the upload
//! completes, so a reader never sees half of it.

use std::path::Path;
use std::sync::Arc;

use datafusion::execution::runtime_env::RuntimeEnv;
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use tokio::io::AsyncReadExt;
use url::Url;

use crate::foundation::error::{CpiqError, Result};
use crate::workspace::Storage;

fn storage_err(url: &str, e: impl std::fmt::Display) -> CpiqError {
    CpiqError::Usage(format!("{url}: {e}"))
}

/// The store for `url` (its bucket), and the bucket's base URL.
pub fn store_for(url: &str, settings: &Storage) -> Result<(Url, Arc<dyn ObjectStore>)> {
    let parsed = Url::parse(url).map_err(|e| storage_err(url, e))?;
    let host = parsed
        .host_str()
        .ok_or_else(|| storage_err(url, "no bucket in the URL"))?;
    let base =
        Url::parse(&format!("{}://{host}", parsed.scheme())).map_err(|e| storage_err(url, e))?;
    let store: Arc<dyn ObjectStore> = match parsed.scheme() {
        "s3" | "s3a" => {
            let mut b = AmazonS3Builder::from_env().with_url(url);
            if let Some(e) = &settings.endpoint {
                b = b.with_endpoint(e);
            }
            if let Some(r) = &settings.region {
                b = b.with_region(r);
            }
            if let Some(h) = settings.allow_http {
                b = b.with_allow_http(h);
            }
            Arc::new(b.build().map_err(|e| storage_err(url, e))?)
        }
        "gs" => Arc::new(
            GoogleCloudStorageBuilder::from_env()
                .with_url(url)
                .build()
                .map_err(|e| storage_err(url, e))?,
        ),
        _ => Arc::new(
            MicrosoftAzureBuilder::from_env()
                .with_url(url)
                .build()
                .map_err(|e| storage_err(url, e))?,
        ),
    };
    Ok((base, store))
}

/// Register the store for `url` with `runtime` (again is harmless).
pub fn register(runtime: &RuntimeEnv, url: &str, settings: &Storage) -> Result<()> {
    let (base, store) = store_for(url, settings)?;
    runtime.register_object_store(&base, store);
    Ok(())
}

/// Upload the local file `local` to `url` in parts; the object is
/// published when the upload completes (and never if it fails). Returns
/// the bytes uploaded.
pub async fn upload(local: &Path, url: &str, settings: &Storage) -> Result<u64> {
    let (_, store) = store_for(url, settings)?;
    let parsed = Url::parse(url).map_err(|e| storage_err(url, e))?;
    let key =
        object_store::path::Path::from_url_path(parsed.path()).map_err(|e| storage_err(url, e))?;
    let mut file = tokio::fs::File::open(local)
        .await
        .map_err(|e| CpiqError::io(local, e))?;
    let upload = store
        .put_multipart(&key)
        .await
        .map_err(|e| storage_err(url, e))?;
    let mut writer = WriteMultipart::new(upload);
    let mut buf = vec![0u8; 8 << 20];
    let mut total = 0u64;
    loop {
        let n = file
            .read(&mut buf)
            .await
            .map_err(|e| CpiqError::io(local, e))?;
        if n == 0 {
            break;
        }
        writer.write(&buf[..n]);
        total += n as u64;
    }
    writer.finish().await.map_err(|e| storage_err(url, e))?;
    // Headers are checked: the object is there, whole.
    let meta = store.head(&key).await.map_err(|e| storage_err(url, e))?;
    if meta.size != total {
        return Err(storage_err(
            url,
            format!("uploaded {total} bytes but the store holds {}", meta.size),
        ));
    }
    Ok(total)
}

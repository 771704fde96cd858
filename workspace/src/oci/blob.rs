//! Single-blob artifacts for an edge node: a WebAssembly module or a native
//! binary pushed to a registry as an image manifest with exactly one layer.
//!
//! [`BlobSource`] is blocking on purpose: the node's executor runs on plain
//! threads, so the source owns a small current-thread runtime for the
//! registry client and must not be used from inside an async task. The
//! manifest is checked (one layer, a `sha256:` digest, a size under the
//! caller's limit) before anything is downloaded; [`BlobSource::open`]
//! starts at an offset so an interrupted download resumes. The caller
//! verifies the digest of what it stored: a partial answer cannot be
//! verified here.

use std::io::{self, Read};
use std::pin::Pin;

use edge_model::digest::sha256;
use oci_client::client::{BlobResponse, SizedStream};
use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciDescriptor, OciImageManifest};
use oci_client::{Client, Reference};

use super::{OciError, Registries, Target, client, parse_reference};

/// Docker's schema 2 manifest, which `docker push` and older tools write.
const DOCKER_MANIFEST_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Largest manifest read, in bytes.
const MAX_MANIFEST_BYTES: usize = 256 * 1024;

/// The one layer of an artifact, as its manifest names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// `sha256:…` of the layer.
    pub digest: String,
    /// Its size in bytes, as declared.
    pub size: u64,
    /// Its media type, as declared.
    pub media_type: String,
}

/// A registry artifact to fetch from a blocking thread.
pub struct BlobSource {
    pub(super) runtime: tokio::runtime::Runtime,
    pub(super) client: Client,
    pub(super) image: Reference,
    pub(super) at: Target,
    /// What is presented to the registry.
    pub(super) auth: oci_client::secrets::RegistryAuth,
}

impl BlobSource {
    /// A source for `reference` (`host:port/name:tag` or `…@sha256:…`).
    pub fn new(reference: &str, registries: &Registries) -> Result<Self, OciError> {
        let (image, tagged) = parse_reference(reference)?;
        if !tagged && image.digest().is_none() {
            return Err(OciError::NoTag {
                reference: reference.to_owned(),
            });
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| OciError::Internal(format!("starting the registry client: {e}")))?;
        // reqwest's async client is made inside the runtime that drives it.
        let client = {
            let _guard = runtime.enter();
            client(registries)?
        };
        Ok(Self {
            runtime,
            client,
            at: Target::new(&image),
            auth: registries.auth_for(image.registry()),
            image,
        })
    }

    /// Fetch the manifest and name its one layer, refusing anything else
    /// and any layer over `limit` bytes.
    pub fn resolve(&self, limit: u64) -> Result<Blob, OciError> {
        let (body, _) = self
            .runtime
            .block_on(self.client.pull_manifest_raw(
                &self.image,
                &self.auth,
                &[OCI_IMAGE_MEDIA_TYPE, DOCKER_MANIFEST_MEDIA_TYPE],
            ))
            .map_err(|e| self.at.error(e, "fetching the manifest of"))?;
        if let Some(want) = self.image.digest()
            && sha256(&body).as_str() != want
        {
            return Err(self.not_an_artifact(format!(
                "the manifest hashes to `{}`, not to the `{want}` asked for",
                sha256(&body)
            )));
        }
        blob_of(&body, limit).map_err(|reason| self.not_an_artifact(reason))
    }

    /// Read `blob` from byte `offset` on. The number returned is where the
    /// reader starts: `offset` when the registry honoured the range, 0 when
    /// it sent the whole blob again.
    pub fn open(&self, blob: &Blob, offset: u64) -> Result<(u64, BlobReader<'_>), OciError> {
        let layer = OciDescriptor {
            media_type: blob.media_type.clone(),
            digest: blob.digest.clone(),
            size: i64::try_from(blob.size).unwrap_or(i64::MAX),
            ..OciDescriptor::default()
        };
        let response = self
            .runtime
            .block_on(
                self.client
                    .pull_blob_stream_partial(&self.image, &layer, offset, None),
            )
            .map_err(|e| self.at.error(e, "downloading"))?;
        let (start, stream) = match response {
            BlobResponse::Partial(s) => (offset, s),
            BlobResponse::Full(s) => (0, s),
        };
        Ok((
            start,
            BlobReader {
                runtime: &self.runtime,
                chunks: stream,
                pending: Vec::new(),
                at: 0,
            },
        ))
    }

    fn not_an_artifact(&self, reason: String) -> OciError {
        OciError::NotAnArtifact {
            reference: self.at.reference.clone(),
            reason,
        }
    }
}

/// The one layer a manifest names, or why it is not a single-blob artifact.
fn blob_of(body: &[u8], limit: u64) -> Result<Blob, String> {
    if body.len() > MAX_MANIFEST_BYTES {
        return Err(format!(
            "its manifest is larger than {MAX_MANIFEST_BYTES} bytes"
        ));
    }
    let manifest: OciImageManifest = serde_json::from_slice(body)
        .map_err(|e| format!("its manifest is not an image manifest: {e}"))?;
    let [layer] = manifest.layers.as_slice() else {
        return Err(format!(
            "it has {} layers; a module or binary is pushed as exactly one",
            manifest.layers.len()
        ));
    };
    let hex = layer.digest.strip_prefix("sha256:").unwrap_or_default();
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return Err(format!(
            "its layer digest `{}` is not a sha256 digest",
            layer.digest
        ));
    }
    let size = u64::try_from(layer.size).map_err(|_| "its layer has a negative size".to_owned())?;
    if size > limit {
        return Err(format!(
            "its layer is {size} bytes, over this node's limit of {limit}"
        ));
    }
    Ok(Blob {
        digest: layer.digest.clone(),
        size,
        media_type: layer.media_type.clone(),
    })
}

/// Blocking reads over a blob being downloaded.
pub struct BlobReader<'a> {
    runtime: &'a tokio::runtime::Runtime,
    chunks: SizedStream,
    pending: Vec<u8>,
    at: usize,
}

impl Read for BlobReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at >= self.pending.len() {
            let chunks = &mut self.chunks.stream;
            let next = self.runtime.block_on(std::future::poll_fn(|cx| {
                futures_core::Stream::poll_next(Pin::as_mut(chunks), cx)
            }));
            match next {
                None => return Ok(0),
                Some(chunk) => {
                    self.pending = chunk?.to_vec();
                    self.at = 0;
                }
            }
        }
        let n = buf.len().min(self.pending.len() - self.at);
        buf[..n].copy_from_slice(&self.pending[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::blob_of;

    fn manifest(layers: &str) -> Vec<u8> {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
              "config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2}},
              "layers":[{layers}]}}"#
        )
        .into_bytes()
    }

    const LAYER: &str = r#"{"mediaType":"application/vnd.wasm.content.layer.v1+wasm","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":100}"#;

    #[test]
    fn one_bounded_sha256_layer_is_an_artifact() {
        let b = blob_of(&manifest(LAYER), 1000).unwrap();
        assert_eq!(b.size, 100);
        assert_eq!(b.media_type, "application/vnd.wasm.content.layer.v1+wasm");
        assert!(blob_of(&manifest(LAYER), 99).unwrap_err().contains("limit"));
        let two = format!("{LAYER},{LAYER}");
        assert!(
            blob_of(&manifest(&two), 1000)
                .unwrap_err()
                .contains("2 layers")
        );
        assert!(
            blob_of(&manifest(""), 1000)
                .unwrap_err()
                .contains("0 layers")
        );
        let md5 = LAYER.replace("sha256:0000", "md5:0000");
        assert!(
            blob_of(&manifest(&md5), 1000)
                .unwrap_err()
                .contains("not a sha256")
        );
        let negative = LAYER.replace("100", "-1");
        assert!(blob_of(&manifest(&negative), 1000).is_err());
        assert!(blob_of(b"{}", 1000).is_err());
    }
}

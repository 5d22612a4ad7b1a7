//! Authentication as a tower layer around each of a service's gRPC
//! services, before any handler runs.
//!
//! Each service declares once, in an [`Access`] table, which kinds of key
//! may call each of its methods. The layer reads the bearer token
//! ([`bearer`]), asks the service's [`Authenticate`] who it belongs to,
//! checks the caller's kind against the table, and hands the verified
//! caller to the handler in the request's extensions ([`caller`]). A
//! declared method of a served service that the table does not name is
//! refused to every key (`UNAUTHENTICATED` without a valid one,
//! `PERMISSION_DENIED` with one): a new RPC is closed until someone decides
//! who may call it (and each service's unit test finds it missing). A
//! made-up method is `UNIMPLEMENTED`, whatever the key.
//!
//! Once the caller is known, its call is counted against its key's quotas
//! ([`quota`](crate::quota)): every method, by the shape its descriptor
//! gives it, so a new RPC cannot escape them either.

use std::{
    collections::{HashMap, HashSet},
    fmt::Debug,
    future::Future,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use http::{HeaderMap, Request, Response};
use tonic::{body::Body, server::NamedService};
use tower::{Layer, Service};

use crate::{
    ApiError,
    methods::Methods,
    quota::{Held, Holder, ItemCounter, Paced, Quotas, Shapes, read_counted},
};

/// The bearer token of a call: the `authorization` header's value after
/// the scheme `Bearer` (any case) and a space; none when the header is
/// missing, not text, of another scheme, or empty.
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("authorization")?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The service's admin key, kept as its SHA-256 digest, made once at
/// start: a call's token is compared by digest, so the time taken says
/// nothing of how much of it matched.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminKey([u8; 32]);

impl AdminKey {
    pub fn new(key: &str) -> Self {
        Self(sha256(key))
    }

    /// Whether the token whose SHA-256 digest is `digest` is this key.
    pub fn is(&self, digest: &[u8]) -> bool {
        self.0.as_slice() == digest
    }
}

impl Debug for AdminKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminKey(..)")
    }
}

/// The SHA-256 digest of a token: how keys are stored and compared.
pub fn sha256(token: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(token.as_bytes()).into()
}

/// How a service learns who holds a bearer token.
pub trait Authenticate: Send + Sync + 'static {
    /// The kinds of key a method may allow.
    type Kind: Copy + Eq + Debug + Send + Sync + 'static;
    /// The verified caller, handed to the handler.
    type Caller: Clone + Send + Sync + 'static;

    /// The holder of `token`: `UNAUTHENTICATED` for a token that is no
    /// valid key, `PERMISSION_DENIED` for one whose holder may call
    /// nothing.
    fn authenticate(
        &self,
        token: String,
    ) -> impl Future<Output = Result<Self::Caller, ApiError>> + Send;

    /// The kind of key the caller presented.
    fn kind(caller: &Self::Caller) -> Self::Kind;

    /// The key whose quotas the caller's calls count against.
    fn holder(caller: &Self::Caller) -> Holder;
}

/// Which kinds of key may call each method, by gRPC path
/// (`/package.Service/Method`).
#[derive(Debug, Clone)]
pub struct Access<K> {
    methods: HashMap<String, Vec<K>>,
    /// The services the table's methods belong to (`/package.Service/`).
    services: HashSet<String>,
}

impl<K: Copy + Eq + Debug> Access<K> {
    /// The table of `entries`: a path and the kinds allowed on it. A path
    /// named twice is a mistake in the declaration and panics at start.
    pub fn new(entries: &[(&str, &[K])]) -> Self {
        let mut methods = HashMap::with_capacity(entries.len());
        for (path, kinds) in entries {
            let previous = methods.insert((*path).to_owned(), kinds.to_vec());
            assert!(previous.is_none(), "{path} is declared twice");
        }
        let services = methods.keys().filter_map(|p| service_of(p)).collect();
        Self { methods, services }
    }

    /// The kinds allowed on `path`; none when the table does not name it.
    pub fn allowed(&self, path: &str) -> Option<&[K]> {
        self.methods.get(path).map(Vec::as_slice)
    }

    /// Whether `path` is under a service the table names methods of.
    fn covers_service_of(&self, path: &str) -> bool {
        service_of(path).is_some_and(|service| self.services.contains(&service))
    }

    /// Every path the table names.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.methods.keys().map(String::as_str)
    }

    /// What keeps the table from matching `served` exactly: each served
    /// method it does not name (refused to everyone) and each path it
    /// names that is not served (a typo or a removed method). Empty when
    /// they match; services test that it is.
    pub fn mismatches(&self, served: &Methods) -> Vec<String> {
        let mut found: Vec<String> = served
            .paths()
            .filter(|path| !self.methods.contains_key(*path))
            .map(|path| format!("{path} is served but has no access entry"))
            .collect();
        let served: HashSet<&str> = served.paths().collect();
        found.extend(
            self.paths()
                .filter(|path| !served.contains(path))
                .map(|path| format!("{path} has an access entry but is not served")),
        );
        found.sort();
        found
    }
}

/// `/package.Service/` of a path `/package.Service/Method`.
fn service_of(path: &str) -> Option<String> {
    path.rfind('/')
        .filter(|&end| end > 0)
        .map(|end| path[..=end].to_owned())
}

/// The caller the layer verified, read by a handler from its request's
/// extensions. Missing means the service was served without the layer: a
/// bug, answered `INTERNAL`.
pub fn caller<C: Clone + Send + Sync + 'static>(
    extensions: &http::Extensions,
) -> Result<C, ApiError> {
    extensions.get::<C>().cloned().ok_or_else(|| {
        ApiError::Internal(anyhow::anyhow!(
            "a handler ran without the authentication layer"
        ))
    })
}

/// The layer; wraps each gRPC service of one server with the same
/// authenticator and table.
pub struct AuthLayer<A: Authenticate> {
    auth: Arc<A>,
    access: Arc<Access<A::Kind>>,
    quotas: Quotas,
    shapes: Arc<Shapes>,
}

impl<A: Authenticate> Clone for AuthLayer<A> {
    fn clone(&self) -> Self {
        Self {
            auth: self.auth.clone(),
            access: self.access.clone(),
            quotas: self.quotas.clone(),
            shapes: self.shapes.clone(),
        }
    }
}

impl<A: Authenticate> AuthLayer<A> {
    /// The layer of `auth` and `access`, counting calls against `quotas`;
    /// the methods' shapes are read from talent's descriptor set.
    pub fn new(auth: A, access: Access<A::Kind>, quotas: Quotas) -> Self {
        let shapes = Shapes::of(&[talent_proto::FILE_DESCRIPTOR_SET])
            .expect("talent's own descriptor set decodes");
        Self {
            auth: Arc::new(auth),
            access: Arc::new(access),
            quotas,
            shapes: Arc::new(shapes),
        }
    }

    /// `inner`, its calls authenticated first.
    pub fn wrap<S>(&self, inner: S) -> Authenticated<S, A> {
        self.layer(inner)
    }
}

impl<S, A: Authenticate> Layer<S> for AuthLayer<A> {
    type Service = Authenticated<S, A>;
    fn layer(&self, inner: S) -> Self::Service {
        Authenticated {
            inner,
            layer: self.clone(),
        }
    }
}

/// A gRPC service whose calls are authenticated first.
pub struct Authenticated<S, A: Authenticate> {
    inner: S,
    layer: AuthLayer<A>,
}

impl<S: Clone, A: Authenticate> Clone for Authenticated<S, A> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S: NamedService, A: Authenticate> NamedService for Authenticated<S, A> {
    const NAME: &'static str = S::NAME;
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, A> Service<Request<Body>> for Authenticated<S, A>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    A: Authenticate,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let layer = self.layer.clone();
        // The clone that was readied is the one called (tower's rule).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let path = req.uri().path().to_owned();
        let token = bearer(req.headers()).map(str::to_owned);
        Box::pin(async move {
            // A declared method of a served service without an entry: no
            // kind of key may call it.
            let allowed = match layer.access.allowed(&path) {
                Some(allowed) => allowed,
                None if layer.shapes.declares(&path) && layer.access.covers_service_of(&path) => {
                    &[]
                }
                None => {
                    let status = tonic::Status::unimplemented(format!(
                        "{path} is not a method of this service"
                    ));
                    return Ok(status.into_http());
                }
            };
            // Every answer carries the caller the layer recognised (when
            // it recognised one), for the audit log outside this layer.
            let refused = |caller: Option<A::Caller>, status: tonic::Status| {
                let mut response = status.into_http();
                if let Some(caller) = caller {
                    response.extensions_mut().insert(Verified(caller));
                }
                Ok(response)
            };
            let caller = match verify(&layer, allowed, &path, token).await {
                Ok(caller) => caller,
                Err((caller, err)) => return refused(caller, tonic::Status::from(err)),
            };
            let holder = A::holder(&caller);
            let shape = layer.shapes.get(&path);
            let permit = match layer.quotas.admit(&holder, shape.streams()) {
                Ok(permit) => permit,
                Err(refusal) => {
                    return refused(Some(caller), refusal.status(&holder.subject, None));
                }
            };
            if permit.rate_limited() {
                let counter = ItemCounter::new(shape.items.as_ref().map(|(number, _)| *number));
                if shape.client_streaming {
                    req = req.map(|body| Body::new(Paced::new(body, counter, permit.bucket())));
                } else {
                    // A unary call is counted whole before its handler
                    // runs: refused, never half served.
                    let (parts, body) = req.into_parts();
                    let mut counter = counter;
                    let (replay, items) = match read_counted(body, &mut counter).await {
                        Ok(read) => read,
                        Err(status) => return refused(Some(caller), status),
                    };
                    if let Err(refusal) = permit.try_take(items) {
                        let field = shape.items.as_ref().map(|(_, name)| name.as_str());
                        return refused(Some(caller), refusal.status(&holder.subject, field));
                    }
                    req = Request::from_parts(parts, Body::new(replay));
                }
            }
            req.extensions_mut().insert(caller.clone());
            let mut response = inner.call(req).await?;
            response.extensions_mut().insert(Verified(caller));
            Ok(response.map(|body| Body::new(Held::new(body, permit))))
        })
    }
}

/// The caller of a call, in its response's extensions: whoever the layer
/// recognised, also when it refused the call because of the key's kind
/// (what the audit log records as who called).
#[derive(Debug, Clone)]
pub struct Verified<C>(pub C);

/// The caller holding `token`, when the table allows its kind on `path`;
/// else the error, with the caller when the key was recognised.
async fn verify<A: Authenticate>(
    layer: &AuthLayer<A>,
    allowed: &[A::Kind],
    path: &str,
    token: Option<String>,
) -> Result<A::Caller, (Option<A::Caller>, ApiError)> {
    let Some(token) = token else {
        return Err((
            None,
            ApiError::Unauthenticated("missing `authorization: Bearer <key>` metadata".into()),
        ));
    };
    let caller = layer
        .auth
        .authenticate(token)
        .await
        .map_err(|err| (None, err))?;
    let kind = A::kind(&caller);
    if allowed.contains(&kind) {
        Ok(caller)
    } else if allowed.is_empty() {
        let err = ApiError::PermissionDenied(format!(
            "no key may call {path}: it has no entry in the service's access table"
        ));
        Err((Some(caller), err))
    } else {
        let err = ApiError::PermissionDenied(format!(
            "a {kind:?} key may not call {path}; it takes {}",
            allowed
                .iter()
                .map(|k| format!("{k:?}"))
                .collect::<Vec<_>>()
                .join(" or ")
        ));
        Err((Some(caller), err))
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;

    use http::HeaderValue;
    use tonic::Code;
    use tower::ServiceExt;

    use super::*;
    use crate::quota::QuotaSettings;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Kind {
        Admin,
        Reader,
    }

    /// Knows two tokens.
    struct Fake;
    impl Authenticate for Fake {
        type Kind = Kind;
        type Caller = (Kind, &'static str);
        async fn authenticate(&self, token: String) -> Result<Self::Caller, ApiError> {
            match token.as_str() {
                "admin" => Ok((Kind::Admin, "root")),
                "reader" => Ok((Kind::Reader, "r1")),
                _ => Err(ApiError::Unauthenticated("unknown key".into())),
            }
        }
        fn kind(caller: &Self::Caller) -> Kind {
            caller.0
        }
        fn holder(caller: &Self::Caller) -> Holder {
            Holder {
                subject: caller.1.to_owned(),
                rate_limited: false,
            }
        }
    }

    /// Answers with the caller it was handed, in a header.
    #[derive(Clone)]
    struct Echo;
    impl Service<Request<Body>> for Echo {
        type Response = Response<Body>;
        type Error = Infallible;
        type Future = BoxFuture<Result<Response<Body>, Infallible>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, req: Request<Body>) -> Self::Future {
            let who =
                caller::<(Kind, &'static str)>(req.extensions()).map_or("none", |(_, name)| name);
            let mut response = Response::new(Body::empty());
            response
                .headers_mut()
                .insert("x-caller", HeaderValue::from_static(who));
            response
                .headers_mut()
                .insert("grpc-status", HeaderValue::from_static("0"));
            Box::pin(std::future::ready(Ok(response)))
        }
    }

    fn service() -> Authenticated<Echo, Fake> {
        let access = Access::new(&[
            ("/t.v1.S/Manage", &[Kind::Admin][..]),
            ("/t.v1.S/Read", &[Kind::Reader, Kind::Admin][..]),
        ]);
        let quotas = Quotas::new(QuotaSettings::of(&crate::ServerConfig::default()));
        AuthLayer::new(Fake, access, quotas).layer(Echo)
    }

    async fn call(path: &str, token: Option<&str>) -> (Code, Option<String>) {
        let mut req = Request::builder().uri(path);
        if let Some(token) = token {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let response = service()
            .oneshot(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = tonic::Status::from_header_map(response.headers()).unwrap();
        let who = response
            .headers()
            .get("x-caller")
            .map(|v| v.to_str().unwrap().to_owned());
        (status.code(), who)
    }

    #[tokio::test]
    async fn a_made_up_method_is_unimplemented_for_every_key() {
        for token in [None, Some("admin"), Some("reader"), Some("nope")] {
            assert_eq!(
                call("/t.v1.S/Forgotten", token).await,
                (Code::Unimplemented, None),
                "{token:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_declared_method_missing_from_the_table_is_refused_to_every_key() {
        // The table names one method of metrics' admin service; the
        // service declares others, which nobody may call.
        let access = Access::new(&[(
            "/talent.metrics.v1.AdminService/IssueKey",
            &[Kind::Admin, Kind::Reader][..],
        )]);
        let quotas = Quotas::new(QuotaSettings::of(&crate::ServerConfig::default()));
        let service = AuthLayer::new(Fake, access, quotas).layer(Echo);
        for (token, code) in [
            (None, Code::Unauthenticated),
            (Some("nope"), Code::Unauthenticated),
            (Some("admin"), Code::PermissionDenied),
            (Some("reader"), Code::PermissionDenied),
        ] {
            for path in [
                "/talent.metrics.v1.AdminService/RevokeKey",
                "/talent.metrics.v1.AdminService/ListKeys",
            ] {
                let mut req = Request::builder().uri(path);
                if let Some(token) = token {
                    req = req.header("authorization", format!("Bearer {token}"));
                }
                let response = service
                    .clone()
                    .oneshot(req.body(Body::empty()).unwrap())
                    .await
                    .unwrap();
                let status = tonic::Status::from_header_map(response.headers()).unwrap();
                assert_eq!(status.code(), code, "{path} with {token:?}");
                assert!(
                    response.headers().get("x-caller").is_none(),
                    "the handler never ran"
                );
            }
        }
    }

    #[tokio::test]
    async fn a_listed_method_takes_the_kinds_it_names_and_hands_on_the_caller() {
        assert_eq!(
            call("/t.v1.S/Manage", Some("admin")).await,
            (Code::Ok, Some("root".into()))
        );
        assert_eq!(
            call("/t.v1.S/Read", Some("reader")).await,
            (Code::Ok, Some("r1".into()))
        );
        assert_eq!(
            call("/t.v1.S/Manage", Some("reader")).await,
            (Code::PermissionDenied, None)
        );
        assert_eq!(
            call("/t.v1.S/Read", Some("nope")).await,
            (Code::Unauthenticated, None)
        );
        assert_eq!(
            call("/t.v1.S/Read", None).await,
            (Code::Unauthenticated, None)
        );
    }

    #[test]
    fn mismatches_name_unlisted_methods_and_stray_entries() {
        let served = Methods::of(
            &["grpc.health.v1.Health"],
            &[tonic_health::pb::FILE_DESCRIPTOR_SET],
        )
        .unwrap();
        let access = Access::new(&[
            ("/grpc.health.v1.Health/Check", &[Kind::Reader][..]),
            ("/grpc.health.v1.Health/Chek", &[Kind::Reader][..]),
        ]);
        assert_eq!(
            access.mismatches(&served),
            [
                "/grpc.health.v1.Health/Chek has an access entry but is not served",
                "/grpc.health.v1.Health/Watch is served but has no access entry",
            ]
        );
    }

    #[test]
    fn bearer_tokens_are_read_from_the_authorization_header() {
        let mut h = HeaderMap::new();
        assert_eq!(bearer(&h), None);
        for (value, token) in [
            ("Bearer tlr_x", Some("tlr_x")),
            ("bearer  tlr_x ", Some("tlr_x")),
            ("Basic tlr_x", None),
            ("Bearer ", None),
            ("Bearer", None),
        ] {
            h.insert("authorization", HeaderValue::from_static(value));
            assert_eq!(bearer(&h), token, "{value:?}");
        }
    }
}

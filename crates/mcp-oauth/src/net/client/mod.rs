//! The crate's HTTP client, built from the pieces reqwest is made of
//! (hyper, hyper-util's pool and proxy matcher, rustls) around a connector
//! of ours: reqwest lets no one reach its sockets, and ours must set
//! `TCP_QUICKACK` after every read (see [`io`] for why).
//!
//! It does what the crate needs of reqwest, no more: keep-alive and HTTP/2,
//! the environment's proxies, redirects within one origin, a User-Agent,
//! timeouts for connecting and for a whole exchange (body included), fixed
//! addresses for some names, and TLS only where it can be needed.

mod connect;
mod error;
mod io;
mod response;
mod tls;

#[cfg(test)]
mod tests;

use std::{net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use http::{
    HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri,
    header::{
        ACCEPT, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, PROXY_AUTHORIZATION,
        TRANSFER_ENCODING, USER_AGENT,
    },
};
use http_body_util::Full;
use hyper_util::{
    client::{legacy, proxy::matcher::Matcher},
    rt::{TokioExecutor, TokioTimer},
};
use tokio::time::Instant;
use url::Url;

use self::{
    connect::{Connector, Resolver, forward_proxy_auth},
    tls::Tls,
};
pub(crate) use self::{error::HttpError, response::Response};
use super::{
    TrustAnchors,
    redirect::{self, Redirects},
};

/// What every request says it is.
const AGENT: &str = concat!("mcp-oauth/", env!("CARGO_PKG_VERSION"));

/// An HTTP client: cheap to clone, its connections pooled and kept alive.
#[derive(Debug, Clone)]
pub(crate) struct HttpClient {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    hyper: legacy::Client<Connector, Full<Bytes>>,
    redirects: Redirects,
    /// How long an exchange may take, body included, unless the request
    /// says otherwise.
    timeout: Option<Duration>,
    /// For the `Proxy-Authorization` of plain requests through a proxy.
    proxies: Option<Arc<Matcher>>,
}

impl HttpClient {
    pub(crate) fn builder() -> HttpClientBuilder {
        HttpClientBuilder::default()
    }

    pub(crate) fn get(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::GET, url.as_ref())
    }

    pub(crate) fn post(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::POST, url.as_ref())
    }

    pub(crate) fn delete(&self, url: impl AsRef<str>) -> RequestBuilder {
        self.request(Method::DELETE, url.as_ref())
    }

    fn request(&self, method: Method, url: &str) -> RequestBuilder {
        RequestBuilder {
            client: self.clone(),
            method,
            url: Url::parse(url).map_err(HttpError::builder),
            headers: HeaderMap::new(),
            body: Bytes::new(),
            timeout: None,
        }
    }
}

/// How an [`HttpClient`] is set up.
#[derive(Debug)]
#[must_use]
pub(crate) struct HttpClientBuilder {
    direct: bool,
    tls: bool,
    timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    resolve: Vec<(String, SocketAddr)>,
    redirects: Redirects,
    roots: TrustAnchors,
    #[cfg(test)]
    tests: tests::Setup,
}

impl Default for HttpClientBuilder {
    fn default() -> Self {
        Self {
            direct: false,
            tls: true,
            timeout: None,
            connect_timeout: None,
            resolve: Vec::new(),
            redirects: Redirects::SameOrigin,
            roots: TrustAnchors::default(),
            #[cfg(test)]
            tests: tests::Setup::default(),
        }
    }
}

impl HttpClientBuilder {
    /// Without any proxy when `direct`: requests to this machine's loopback
    /// never go through one, since a proxy elsewhere cannot reach it (it
    /// would reach its own). Otherwise the environment decides
    /// (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`, lower-case
    /// too; and the system's settings on macOS and Windows).
    pub(crate) fn direct(mut self, direct: bool) -> Self {
        self.direct = direct;
        self
    }

    /// Whether the client may speak TLS: without, the system's certificates
    /// are not even loaded, and `https` URLs fail to connect.
    pub(crate) fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }

    /// How long one exchange may take, body included.
    pub(crate) fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How long connecting may take, TLS and proxy tunnel included.
    pub(crate) fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Reaches `domain` at `address` instead of asking DNS (the port of
    /// the URL wins when it names one).
    pub(crate) fn resolve(mut self, domain: &str, address: SocketAddr) -> Self {
        self.resolve.push((domain.to_owned(), address));
        self
    }

    pub(crate) fn redirects(mut self, redirects: Redirects) -> Self {
        self.redirects = redirects;
        self
    }

    /// Trusts `roots` too, besides the system's certificate authorities.
    pub(crate) fn roots(mut self, roots: TrustAnchors) -> Self {
        self.roots = roots;
        self
    }

    pub(crate) fn build(self) -> Result<HttpClient, HttpError> {
        let tls = if self.tls {
            #[cfg(test)]
            let tls = match self.tests.tls.clone() {
                Some(tls) => Ok(tls),
                None => Tls::platform(&self.roots),
            };
            #[cfg(not(test))]
            let tls = Tls::platform(&self.roots);
            Some(tls.map_err(HttpError::builder)?)
        } else {
            None
        };
        let proxies = if self.direct {
            None
        } else {
            #[cfg(test)]
            let proxies = self.tests.proxies.unwrap_or_else(Matcher::from_system);
            #[cfg(not(test))]
            let proxies = Matcher::from_system();
            Some(Arc::new(proxies))
        };
        let connector = Connector::new(
            Resolver::new(self.resolve),
            tls,
            proxies.clone(),
            self.connect_timeout,
            HeaderValue::from_static(AGENT),
        );
        let hyper = legacy::Client::builder(TokioExecutor::new())
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(Duration::from_secs(90))
            .build(connector);
        Ok(HttpClient {
            shared: Arc::new(Shared {
                hyper,
                redirects: self.redirects,
                timeout: self.timeout,
                proxies,
            }),
        })
    }
}

/// One request, as reqwest's builder makes it.
#[derive(Debug)]
#[must_use]
pub(crate) struct RequestBuilder {
    client: HttpClient,
    method: Method,
    /// The URL, or the first reason the request cannot be made (reported
    /// when it is sent, as reqwest does).
    url: Result<Url, HttpError>,
    headers: HeaderMap,
    body: Bytes,
    timeout: Option<Duration>,
}

impl RequestBuilder {
    /// The request's method.
    pub(crate) fn method(&self) -> &Method {
        &self.method
    }

    /// The request's URL, unless it is not a usable one.
    pub(crate) fn url(&self) -> Option<&Url> {
        self.url.as_ref().ok()
    }

    /// Adds a header (to any of the same name already there). One that
    /// cannot be a header fails the request when it is sent.
    pub(crate) fn header<K, V>(mut self, name: K, value: V) -> Self
    where
        HeaderName: TryFrom<K>,
        <HeaderName as TryFrom<K>>::Error: Into<http::Error>,
        HeaderValue: TryFrom<V>,
        <HeaderValue as TryFrom<V>>::Error: Into<http::Error>,
    {
        let header = HeaderName::try_from(name)
            .map_err(Into::into)
            .and_then(|name| Ok((name, HeaderValue::try_from(value).map_err(Into::into)?)));
        match header {
            Ok((name, value)) => {
                self.headers.append(name, value);
            }
            Err(error) => self.url = Err(HttpError::builder(error)),
        }
        self
    }

    /// Sets these headers, each replacing any of its name.
    pub(crate) fn headers(mut self, headers: HeaderMap) -> Self {
        let mut last = None;
        for (name, value) in headers {
            let name = name
                .or_else(|| last.clone())
                .expect("a first header has its name");
            if last.as_ref() != Some(&name) {
                self.headers.remove(&name);
                last = Some(name.clone());
            }
            self.headers.append(name, value);
        }
        self
    }

    pub(crate) fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// `value` as the JSON body.
    pub(crate) fn json(mut self, value: &impl serde::Serialize) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => {
                if !self.headers.contains_key(CONTENT_TYPE) {
                    self.headers
                        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                }
                self.body = body.into();
            }
            Err(error) => self.url = Err(HttpError::builder(error)),
        }
        self
    }

    /// How long this exchange may take, body included, instead of the
    /// client's time.
    pub(crate) fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sends the request, following redirects as the client does; the
    /// answer's head is then in, its body yet to read.
    pub(crate) async fn send(self) -> Result<Response, HttpError> {
        let client = self.client.clone();
        let deadline = self
            .timeout
            .or(client.shared.timeout)
            .map(|timeout| Instant::now() + timeout);
        let exchange = client.exchange(self);
        let response = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, exchange)
                .await
                .map_err(|_| HttpError::timeout())??,
            None => exchange.await?,
        };
        Ok(Response::new(response, deadline))
    }
}

impl HttpClient {
    async fn exchange(
        &self,
        request: RequestBuilder,
    ) -> Result<http::Response<hyper::body::Incoming>, HttpError> {
        let RequestBuilder {
            mut method,
            url,
            mut headers,
            mut body,
            ..
        } = request;
        let mut url = url?;
        headers
            .entry(USER_AGENT)
            .or_insert(HeaderValue::from_static(AGENT));
        headers
            .entry(ACCEPT)
            .or_insert(HeaderValue::from_static("*/*"));
        let mut previous = Vec::new();
        loop {
            url.set_fragment(None);
            let uri: Uri = url.as_str().parse().map_err(HttpError::builder)?;
            let mut sent = headers.clone();
            if let Some(auth) = self
                .shared
                .proxies
                .as_deref()
                .and_then(|proxies| forward_proxy_auth(proxies, &uri))
            {
                sent.insert(PROXY_AUTHORIZATION, auth);
            }
            let mut request = http::Request::new(Full::new(body.clone()));
            *request.method_mut() = method.clone();
            *request.uri_mut() = uri;
            *request.headers_mut() = sent;
            let response = self
                .shared
                .hyper
                .request(request)
                .await
                .map_err(HttpError::request)?;
            if self.shared.redirects == Redirects::None {
                return Ok(response);
            }
            let Some(next) = redirect_target(&url, &response) else {
                return Ok(response);
            };
            previous.push(url);
            redirect::check(&previous, &next).map_err(HttpError::redirect)?;
            // As browsers (and reqwest) do: a POST moved by 301 or 302, and
            // anything but a HEAD sent elsewhere by 303, becomes a GET.
            let status = response.status();
            let to_get = match status {
                StatusCode::MOVED_PERMANENTLY | StatusCode::FOUND => method == Method::POST,
                StatusCode::SEE_OTHER => method != Method::HEAD,
                _ => false,
            };
            if to_get || status == StatusCode::SEE_OTHER {
                if to_get {
                    method = Method::GET;
                }
                body = Bytes::new();
                for payload in [
                    CONTENT_TYPE,
                    CONTENT_LENGTH,
                    CONTENT_ENCODING,
                    TRANSFER_ENCODING,
                ] {
                    headers.remove(payload);
                }
            }
            url = next;
        }
    }
}

/// Where a redirect answer sends the request next, if it is one that can
/// be followed.
fn redirect_target(url: &Url, response: &http::Response<hyper::body::Incoming>) -> Option<Url> {
    let redirecting = matches!(
        response.status(),
        StatusCode::MOVED_PERMANENTLY
            | StatusCode::FOUND
            | StatusCode::SEE_OTHER
            | StatusCode::TEMPORARY_REDIRECT
            | StatusCode::PERMANENT_REDIRECT
    );
    if !redirecting {
        return None;
    }
    let location = response.headers().get(LOCATION)?.to_str().ok()?;
    url.join(location).ok()
}

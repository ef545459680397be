//! A client of a running node's control API, found through the files the node writes in its
//! data directory (`api`: the address; `api.token`: the bearer token).

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::NodeError;
use crate::views::ErrorView;

pub const API_ADDR_FILE: &str = "api";
pub const API_TOKEN_FILE: &str = "api.token";

/// Largest API response read (a dataset listing can be long).
const MAX_RESPONSE: u64 = 64 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct ApiClient {
    base: String,
    token: String,
    agent: ureq::Agent,
}

fn api_error(e: impl std::fmt::Display) -> NodeError {
    NodeError::Api(e.to_string())
}

impl ApiClient {
    pub fn new(addr: SocketAddr, token: String) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(3600)))
            .build()
            .into();
        Self {
            base: format!("http://{addr}"),
            token,
            agent,
        }
    }

    /// The client of the node running on `root`, or `None` if none runs there (no address file,
    /// or a stale one left by a node that was killed).
    pub fn discover(root: &Path) -> Result<Option<Self>, NodeError> {
        let Ok(text) = std::fs::read_to_string(root.join(API_ADDR_FILE)) else {
            return Ok(None);
        };
        let Ok(addr) = text.trim().parse::<SocketAddr>() else {
            return Ok(None);
        };
        if TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err() {
            return Ok(None);
        }
        let token = std::fs::read_to_string(root.join(API_TOKEN_FILE))
            .map_err(|e| NodeError::io("reading the API token", e))?;
        Ok(Some(Self::new(addr, token.trim().to_owned())))
    }

    fn finish<T: DeserializeOwned>(
        mut response: ureq::http::Response<ureq::Body>,
    ) -> Result<T, NodeError> {
        let status = response.status();
        let body = response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_vec()
            .map_err(api_error)?;
        if !status.is_success() {
            let message = serde_json::from_slice::<ErrorView>(&body)
                .map(|e| e.error)
                .unwrap_or_else(|_| format!("the node answered {status}"));
            return Err(NodeError::Api(message));
        }
        serde_json::from_slice(&body).map_err(api_error)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// Sends a GET, and once more if the pooled connection it went out on had been closed by
    /// the node meanwhile (a GET changes nothing, so sending it twice is harmless).
    fn call_get(&self, path: &str) -> Result<ureq::http::Response<ureq::Body>, NodeError> {
        let send = || {
            self.agent
                .get(self.url(path))
                .header("Authorization", self.bearer())
                .call()
        };
        match send() {
            Err(ureq::Error::Io(_)) => send().map_err(api_error),
            sent => sent.map_err(api_error),
        }
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, NodeError> {
        Self::finish(self.call_get(path)?)
    }

    pub fn get_bytes(&self, path: &str) -> Result<Vec<u8>, NodeError> {
        let mut response = self.call_get(path)?;
        if !response.status().is_success() {
            return Self::finish::<Vec<u8>>(response);
        }
        response
            .body_mut()
            .with_config()
            .limit(MAX_RESPONSE)
            .read_to_vec()
            .map_err(api_error)
    }

    pub fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, NodeError> {
        let response = self
            .agent
            .post(self.url(path))
            .header("Authorization", self.bearer())
            .send_json(body)
            .map_err(api_error)?;
        Self::finish(response)
    }

    pub fn post_bytes<T: DeserializeOwned>(&self, path: &str, body: &[u8]) -> Result<T, NodeError> {
        let response = self
            .agent
            .post(self.url(path))
            .header("Authorization", self.bearer())
            .header("Content-Type", "application/octet-stream")
            .send(body)
            .map_err(api_error)?;
        Self::finish(response)
    }
}

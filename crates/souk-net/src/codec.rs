//! Length-prefixed protobuf over a libp2p stream, with a size bound checked before reading.

use std::io;
use std::marker::PhantomData;

use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;
use libp2p::request_response::Codec;
use prost::Message;
use souk_proto::v1;

/// The catch-up sync protocol.
pub const SYNC_PROTOCOL: StreamProtocol = StreamProtocol::new("/souk/sync/1");

/// Most manifests in one sync page.
pub const MAX_SYNC_PAGE: u32 = 64;

/// A request-response codec for prost messages: an unsigned varint length, then the message.
/// Lengths above `MAX_REQ` / `MAX_RESP` are refused before any allocation.
#[derive(Debug)]
pub struct ProstCodec<Req, Resp, const MAX_REQ: usize, const MAX_RESP: usize> {
    _messages: PhantomData<fn() -> (Req, Resp)>,
}

impl<Req, Resp, const MAX_REQ: usize, const MAX_RESP: usize> Default
    for ProstCodec<Req, Resp, MAX_REQ, MAX_RESP>
{
    fn default() -> Self {
        Self {
            _messages: PhantomData,
        }
    }
}

impl<Req, Resp, const MAX_REQ: usize, const MAX_RESP: usize> Clone
    for ProstCodec<Req, Resp, MAX_REQ, MAX_RESP>
{
    fn clone(&self) -> Self {
        Self::default()
    }
}

/// License negotiation.
pub const NEGOTIATION_PROTOCOL: StreamProtocol = StreamProtocol::new("/souk/negotiate/1");

/// Negotiation: every message is a small protobuf; a license is the largest answer.
pub type NegotiationCodec = ProstCodec<v1::NegotiationRequest, v1::NegotiationResponse, 4096, 4096>;

/// Access to a provider's blobs.
pub const ACCESS_PROTOCOL: StreamProtocol = StreamProtocol::new("/souk/access/1");

/// Access: a request carries one license; the answer a few addresses.
pub type AccessCodec = ProstCodec<
    v1::AccessRequest,
    v1::AccessResponse,
    { souk_crypto::MAX_LICENSE_ENVELOPE_BYTES + 16 },
    1024,
>;

/// Witnessing of receipt-log checkpoints.
pub const WITNESS_PROTOCOL: StreamProtocol = StreamProtocol::new("/souk/witness/1");

/// Most hashes in a consistency proof a witness reads: enough for any log of 2^63 leaves.
pub const MAX_CONSISTENCY_HASHES: usize = 128;

/// Witnessing: a signed note and a consistency proof; the answer one cosignature line.
pub type WitnessCodec = ProstCodec<
    v1::AddCheckpoint,
    v1::AddCheckpointResponse,
    { souk_crypto::checkpoint::MAX_NOTE_BYTES + MAX_CONSISTENCY_HASHES * 34 + 64 },
    1024,
>;

/// Catch-up sync: a request is tiny; a page holds at most [`MAX_SYNC_PAGE`] manifests.
pub type SyncCodec = ProstCodec<
    v1::SyncRequest,
    v1::SyncResponse,
    256,
    { MAX_SYNC_PAGE as usize * (souk_crypto::MAX_MANIFEST_ENVELOPE_BYTES + 16) + 256 },
>;

async fn read_length<T: AsyncRead + Unpin>(io: &mut T, max: usize) -> io::Result<usize> {
    let mut value: u64 = 0;
    for shift in (0..64).step_by(7).take(10) {
        let mut byte = [0u8; 1];
        io.read_exact(&mut byte).await?;
        value |= u64::from(byte[0] & 0x7f) << shift;
        if byte[0] & 0x80 == 0 {
            return usize::try_from(value)
                .ok()
                .filter(|len| *len <= max)
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("message of {value} bytes exceeds the limit of {max}"),
                    )
                });
        }
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "malformed length prefix",
    ))
}

async fn read_message<M: Message + Default, T: AsyncRead + Unpin>(
    io: &mut T,
    max: usize,
) -> io::Result<M> {
    let len = read_length(io, max).await?;
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    M::decode(buf.as_slice()).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

async fn write_message<M: Message, T: AsyncWrite + Unpin>(
    io: &mut T,
    message: &M,
    max: usize,
) -> io::Result<()> {
    let len = message.encoded_len();
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("message of {len} bytes exceeds the limit of {max}"),
        ));
    }
    io.write_all(&message.encode_length_delimited_to_vec())
        .await?;
    io.close().await
}

impl<Req, Resp, const MAX_REQ: usize, const MAX_RESP: usize> Codec
    for ProstCodec<Req, Resp, MAX_REQ, MAX_RESP>
where
    Req: Message + Default + Send + 'static,
    Resp: Message + Default + Send + 'static,
{
    type Protocol = StreamProtocol;
    type Request = Req;
    type Response = Resp;

    async fn read_request<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Req>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_message(io, MAX_REQ).await
    }

    async fn read_response<T>(&mut self, _: &StreamProtocol, io: &mut T) -> io::Result<Resp>
    where
        T: AsyncRead + Unpin + Send,
    {
        read_message(io, MAX_RESP).await
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Req,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_message(io, &request, MAX_REQ).await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        response: Resp,
    ) -> io::Result<()>
    where
        T: AsyncWrite + Unpin + Send,
    {
        write_message(io, &response, MAX_RESP).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::io::Cursor;

    #[test]
    fn oversize_and_truncated_messages_are_refused() {
        futures::executor::block_on(async {
            let mut codec = SyncCodec::default();
            let request = v1::SyncRequest {
                epoch: vec![1; 16],
                after: 7,
                limit: 3,
            };
            let mut wire = Cursor::new(Vec::new());
            codec
                .write_request(&SYNC_PROTOCOL, &mut wire, request.clone())
                .await
                .expect("write");
            let bytes = wire.into_inner();
            let read = codec
                .read_request(&SYNC_PROTOCOL, &mut Cursor::new(bytes.clone()))
                .await
                .expect("read");
            assert_eq!(read, request);
            for len in 0..bytes.len() {
                let truncated = codec
                    .read_request(&SYNC_PROTOCOL, &mut Cursor::new(bytes[..len].to_vec()))
                    .await;
                assert!(truncated.is_err(), "truncation to {len} accepted");
            }
            // A length prefix announcing 1 GiB is refused without reading further.
            let mut prefix = Vec::new();
            prost::encode_length_delimiter(1 << 30, &mut prefix).expect("prefix");
            let err = codec
                .read_response(&SYNC_PROTOCOL, &mut Cursor::new(prefix))
                .await
                .expect_err("1 GiB response accepted");
            assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        });
    }
}

//! Negotiation messages on the wire: protobuf, with offers signed by the seller and vouchers
//! signed by the payer (each verified over the received bytes before it is decoded).

use prost::Message;
use souk_crypto::NodeKey;
use souk_crypto::envelope::{self, EnvelopeError};
use souk_proto::{DecodeError, v1};
use souk_types::{DatasetId, PublicKey, UsageRights};

use crate::negotiation::{BuyerMessage, Offer, QuoteRequest, Voucher};

pub const OFFER_KIND: &str = "offer";
pub const VOUCHER_KIND: &str = "voucher";
/// Largest offer or voucher envelope accepted.
pub const MAX_SIGNED_MESSAGE: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("{0}")]
    Envelope(#[from] EnvelopeError),
    #[error("{0}")]
    Decode(#[from] DecodeError),
    #[error("the {0} is signed by someone other than the party it names")]
    WrongSigner(&'static str),
    #[error("the request is empty")]
    Empty,
    #[error("a receipt (countersigned or claimed) is not a negotiation step")]
    NotNegotiation,
}

fn field<const N: usize>(name: &'static str, bytes: &[u8]) -> Result<[u8; N], WireError> {
    <[u8; N]>::try_from(bytes).map_err(|_| {
        WireError::Decode(DecodeError::Field {
            field: name,
            reason: "has the wrong length",
        })
    })
}

fn rights(value: i32) -> Result<UsageRights, WireError> {
    Ok(souk_proto::rights_from_wire(value)?)
}

fn rights_value(rights: UsageRights) -> i32 {
    souk_proto::rights_to_wire(rights) as i32
}

/// Signs an offer as its seller.
pub fn seal_offer(seller: &NodeKey, offer: &Offer) -> Vec<u8> {
    let body = v1::Offer {
        offer_id: offer.id.to_vec(),
        dataset_id: offer.dataset.as_bytes().to_vec(),
        buyer: offer.buyer.as_bytes().to_vec(),
        seller: offer.seller.as_bytes().to_vec(),
        price: offer.price,
        currency: offer.currency.clone(),
        rights: rights_value(offer.rights),
        duration_secs: offer.duration_secs,
        expires_at_ms: offer.expires_at_ms,
        round: offer.round,
        is_final: offer.is_final,
        network_id: offer.network_id.clone(),
    }
    .encode_to_vec();
    envelope::seal(seller, OFFER_KIND, body)
}

/// Verifies and decodes an offer; its signer must be the seller it names.
pub fn open_offer(encoded: &[u8]) -> Result<Offer, WireError> {
    let verified = envelope::open(encoded, OFFER_KIND, MAX_SIGNED_MESSAGE)?;
    let wire = v1::Offer::decode(verified.body.as_slice()).map_err(DecodeError::from)?;
    let offer = Offer {
        id: field("offer_id", &wire.offer_id)?,
        dataset: DatasetId::from_bytes(field("dataset_id", &wire.dataset_id)?),
        buyer: PublicKey::from_bytes(field("buyer", &wire.buyer)?),
        seller: PublicKey::from_bytes(field("seller", &wire.seller)?),
        price: wire.price,
        currency: wire.currency,
        rights: rights(wire.rights)?,
        duration_secs: wire.duration_secs,
        expires_at_ms: wire.expires_at_ms,
        round: wire.round,
        is_final: wire.is_final,
        network_id: wire.network_id,
    };
    if offer.seller != verified.signer {
        return Err(WireError::WrongSigner("offer"));
    }
    Ok(offer)
}

/// Signs a voucher as its payer.
pub fn seal_voucher(payer: &NodeKey, voucher: &Voucher) -> Vec<u8> {
    let body = v1::Voucher {
        channel: voucher.channel.to_vec(),
        lane: voucher.lane,
        nonce: voucher.nonce,
        cumulative: voucher.cumulative,
        payer: voucher.payer.as_bytes().to_vec(),
        payee: voucher.payee.as_bytes().to_vec(),
        network_id: voucher.network_id.clone(),
    }
    .encode_to_vec();
    envelope::seal(payer, VOUCHER_KIND, body)
}

/// Verifies and decodes a voucher; its signer must be the payer it names.
pub fn open_voucher(encoded: &[u8]) -> Result<Voucher, WireError> {
    let verified = envelope::open(encoded, VOUCHER_KIND, MAX_SIGNED_MESSAGE)?;
    let wire = v1::Voucher::decode(verified.body.as_slice()).map_err(DecodeError::from)?;
    let voucher = Voucher {
        channel: field("channel", &wire.channel)?,
        lane: wire.lane,
        nonce: wire.nonce,
        cumulative: wire.cumulative,
        payer: PublicKey::from_bytes(field("payer", &wire.payer)?),
        payee: PublicKey::from_bytes(field("payee", &wire.payee)?),
        network_id: wire.network_id,
    };
    if voucher.payer != verified.signer {
        return Err(WireError::WrongSigner("voucher"));
    }
    Ok(voucher)
}

pub fn quote_request(quote: &QuoteRequest) -> v1::NegotiationRequest {
    v1::NegotiationRequest {
        message: Some(v1::negotiation_request::Message::Quote(v1::QuoteRequest {
            dataset_id: quote.dataset.as_bytes().to_vec(),
            rights: rights_value(quote.rights),
            duration_secs: quote.duration_secs,
            bid: quote.bid,
            network_id: quote.network_id.clone(),
        })),
    }
}

pub fn counter_request(offer: [u8; 16], bid: u64) -> v1::NegotiationRequest {
    v1::NegotiationRequest {
        message: Some(v1::negotiation_request::Message::Counter(v1::Counter {
            offer_id: offer.to_vec(),
            bid,
        })),
    }
}

pub fn accept_request(offer: [u8; 16], voucher_envelope: Vec<u8>) -> v1::NegotiationRequest {
    v1::NegotiationRequest {
        message: Some(v1::negotiation_request::Message::Accept(v1::Accept {
            offer_id: offer.to_vec(),
            voucher: voucher_envelope,
        })),
    }
}

/// The buyer's countersignature on the seller's sale receipt, sent back for the seller's log.
pub fn countersign_request(receipt: Vec<u8>, signature: [u8; 64]) -> v1::NegotiationRequest {
    v1::NegotiationRequest {
        message: Some(v1::negotiation_request::Message::Countersign(
            v1::Countersign {
                receipt,
                signature: signature.to_vec(),
            },
        )),
    }
}

/// Decodes a buyer's request. For an accept, also returns the voucher envelope as signed, which
/// the seller keeps for settlement.
pub fn decode_request(
    request: v1::NegotiationRequest,
) -> Result<(BuyerMessage, Option<Vec<u8>>), WireError> {
    use v1::negotiation_request::Message;
    match request.message.ok_or(WireError::Empty)? {
        Message::Quote(q) => Ok((
            BuyerMessage::Quote(QuoteRequest {
                dataset: DatasetId::from_bytes(field("dataset_id", &q.dataset_id)?),
                rights: rights(q.rights)?,
                duration_secs: q.duration_secs,
                bid: q.bid,
                network_id: q.network_id,
            }),
            None,
        )),
        Message::Counter(c) => Ok((
            BuyerMessage::Counter {
                offer: field("offer_id", &c.offer_id)?,
                bid: c.bid,
            },
            None,
        )),
        Message::Accept(a) => {
            let voucher = open_voucher(&a.voucher)?;
            Ok((
                BuyerMessage::Accept {
                    offer: field("offer_id", &a.offer_id)?,
                    voucher,
                },
                Some(a.voucher),
            ))
        }
        Message::Countersign(_) | Message::Delivery(_) => Err(WireError::NotNegotiation),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_messages_round_trip_and_bind_their_signer() {
        let seller = NodeKey::from_seed([1; 32]);
        let buyer = NodeKey::from_seed([2; 32]);
        let offer = Offer {
            id: [3; 16],
            dataset: DatasetId::from_bytes([4; 32]),
            buyer: buyer.public(),
            seller: seller.public(),
            price: 70,
            currency: "SOUK".into(),
            rights: UsageRights::Training,
            duration_secs: 60,
            expires_at_ms: 99,
            round: 2,
            is_final: false,
            network_id: "souk-test".into(),
        };
        assert_eq!(
            open_offer(&seal_offer(&seller, &offer)).expect("offer"),
            offer
        );
        assert!(matches!(
            open_offer(&seal_offer(&buyer, &offer)),
            Err(WireError::WrongSigner("offer"))
        ));
        let voucher = Voucher {
            channel: [5; 32],
            lane: 0,
            nonce: 1,
            cumulative: 70,
            payer: buyer.public(),
            payee: seller.public(),
            network_id: "souk-test".into(),
        };
        let sealed = seal_voucher(&buyer, &voucher);
        assert_eq!(open_voucher(&sealed).expect("voucher"), voucher);
        assert!(open_voucher(&seal_voucher(&seller, &voucher)).is_err());
        let (message, kept) =
            decode_request(accept_request([3; 16], sealed.clone())).expect("decode");
        assert_eq!(
            message,
            BuyerMessage::Accept {
                offer: [3; 16],
                voucher
            }
        );
        assert_eq!(kept, Some(sealed));
        assert!(matches!(
            decode_request(v1::NegotiationRequest { message: None }),
            Err(WireError::Empty)
        ));
    }
}

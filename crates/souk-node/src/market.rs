//! The market side of the network task: answering buyers as a seller (the `souk-core` seller
//! machine, offers signed, licenses issued and recorded) and negotiating as a buyer.

use souk_core::negotiation::{
    Buyer, BuyerDecision, BuyerMessage, Policy, QuoteRequest, Seller, SellerMessage, Voucher,
};
use souk_core::wire;
use souk_crypto::{LicenseTerms, NodeKey, SignedLicense};
use souk_proto::v1;
use souk_store::{Catalog, LaneId, LicenseRecord};
use souk_types::{DatasetId, PublicKey, UsageRights};
use tokio::sync::oneshot;

use crate::error::random_32;
use crate::node::now_ms;
use crate::receipts;

/// How long a seller's offer stays open.
const OFFER_TTL_MS: u64 = 60_000;
/// Rounds of counter-offers a seller grants.
const MAX_ROUNDS: u32 = 4;

/// A completed purchase.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Purchase {
    pub dataset: String,
    pub license_id: String,
    pub price: u64,
    pub currency: String,
    pub rounds: u32,
    pub expires_at_ms: u64,
    /// The sale receipt this node countersigned, and its index in the seller's receipt log
    /// (absent if the seller did not log it).
    pub receipt_id: Option<String>,
    pub receipt_index: Option<u64>,
}

pub(crate) type PurchaseReply = oneshot::Sender<Result<Purchase, String>>;

/// A negotiation this node runs as a buyer.
pub(crate) struct BuySession {
    pub(crate) dataset: DatasetId,
    pub(crate) seller: PublicKey,
    buyer: Buyer,
    /// The voucher sent with an accept, recorded once the license arrives.
    paid: Option<(Vec<u8>, Voucher, u64)>,
    /// The purchase made, while the seller logs the countersigned receipt.
    bought: Option<Purchase>,
    pub(crate) reply: PurchaseReply,
}

impl std::fmt::Debug for BuySession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BuySession({})", self.dataset)
    }
}

/// What the network task sends next for a buy session; `None` when the session ended (its
/// reply was sent).
pub(crate) type BuyStep = Option<(v1::NegotiationRequest, BuySession)>;

fn refused(reason: impl Into<String>) -> v1::NegotiationResponse {
    v1::NegotiationResponse {
        message: Some(v1::negotiation_response::Message::Refused(reason.into())),
    }
}

/// The seller machine with the node's key, catalog and network.
pub(crate) struct Market {
    key: NodeKey,
    network_id: String,
    seller: Seller,
}

impl std::fmt::Debug for Market {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Market")
    }
}

fn random_16() -> Option<[u8; 16]> {
    let bytes = random_32().ok()?;
    let mut out = [0u8; 16];
    out.copy_from_slice(&bytes[..16]);
    Some(out)
}

fn random_48() -> Option<[u8; 48]> {
    let (a, b) = (random_32().ok()?, random_32().ok()?);
    let mut out = [0u8; 48];
    out[..32].copy_from_slice(&a);
    out[32..].copy_from_slice(&b[..16]);
    Some(out)
}

impl Market {
    pub(crate) fn new(key: NodeKey, network_id: String) -> Self {
        let me = key.public();
        Self {
            key,
            seller: Seller::new(me, network_id.clone(), 10_000),
            network_id,
        }
    }

    pub(crate) fn key(&self) -> &NodeKey {
        &self.key
    }

    pub(crate) fn network_id(&self) -> &str {
        &self.network_id
    }

    /// The seller's terms for `dataset`: only datasets it holds the key of and prices.
    fn policy(catalog: &Catalog, dataset: &DatasetId) -> Option<Policy> {
        let stored = catalog.get(dataset).ok()??;
        let policy = stored.policy.filter(|_| stored.has_key)?;
        let offer = stored.signed.manifest.offers.first()?;
        Some(Policy {
            list_price: policy.list_price,
            floor_price: policy.floor_price,
            currency: offer.currency.clone(),
            rights: offer.rights,
            duration_secs: offer.duration_secs,
            offer_ttl_ms: OFFER_TTL_MS,
            max_rounds: MAX_ROUNDS,
        })
    }

    /// Answers one request from buyer `from`.
    pub(crate) fn answer(
        &mut self,
        catalog: &mut Catalog,
        from: PublicKey,
        request: v1::NegotiationRequest,
    ) -> v1::NegotiationResponse {
        use v1::negotiation_response::Message;
        let now = now_ms();
        self.seller.expire(now);
        if let Some(v1::negotiation_request::Message::Countersign(c)) = &request.message {
            let me = self.key.public();
            return match receipts::log_countersigned(
                catalog,
                me,
                from,
                &c.receipt,
                &c.signature,
                now,
            ) {
                Ok(index) => v1::NegotiationResponse {
                    message: Some(Message::Logged(index)),
                },
                Err(e) => refused(format!("cannot log the receipt: {e}")),
            };
        }
        let (message, voucher_envelope) = match wire::decode_request(request) {
            Ok(decoded) => decoded,
            Err(e) => return refused(format!("malformed request: {e}")),
        };
        if let BuyerMessage::Accept { voucher, .. } = &message {
            let lane = LaneId {
                payer: voucher.payer,
                payee: voucher.payee,
                channel: voucher.channel,
                lane: voucher.lane,
            };
            if let Ok(Some((nonce, cumulative))) = catalog.lane(&lane) {
                self.seller
                    .set_lane(lane.payer, lane.channel, lane.lane, nonce, cumulative);
            }
        }
        let Some(offer_id) = random_16() else {
            return refused("the seller cannot draw randomness");
        };
        let reply = self.seller.handle(now, offer_id, from, message, |dataset| {
            Self::policy(catalog, dataset)
        });
        match reply {
            SellerMessage::Offer(offer) => v1::NegotiationResponse {
                message: Some(Message::Offer(wire::seal_offer(&self.key, &offer))),
            },
            SellerMessage::NoAgreement { last_offer } => v1::NegotiationResponse {
                message: Some(Message::NoAgreement(wire::seal_offer(
                    &self.key,
                    &last_offer,
                ))),
            },
            SellerMessage::Refused(refusal) => refused(refusal.to_string()),
            SellerMessage::Accepted { offer, voucher } => {
                let Ok(Some(dataset_key)) = catalog.dataset_key(&offer.dataset) else {
                    return refused("the seller no longer holds the dataset key");
                };
                // Split first: a sale this node cannot account for is not made.
                let split = match receipts::split_sale(catalog, offer.dataset, offer.price) {
                    Ok(split) => split,
                    Err(e) => return refused(format!("the seller cannot split the price: {e}")),
                };
                let Some(randomness) = random_48() else {
                    return refused("the seller cannot draw randomness");
                };
                let terms = LicenseTerms {
                    dataset: offer.dataset,
                    buyer: offer.buyer,
                    rights: offer.rights,
                    price: offer.price,
                    currency: offer.currency.clone(),
                    issued_at_ms: now,
                    expires_at_ms: now.saturating_add(offer.duration_secs.saturating_mul(1000)),
                    network_id: self.network_id.clone(),
                };
                let license = match SignedLicense::issue(&self.key, terms, &dataset_key, randomness)
                {
                    Ok(license) => license,
                    Err(e) => return refused(format!("cannot issue the license: {e}")),
                };
                let voucher_envelope = voucher_envelope.unwrap_or_default();
                let receipt = match receipts::sale_receipt(
                    &self.key,
                    &license,
                    &voucher_envelope,
                    split,
                    now,
                ) {
                    Ok(receipt) => receipt,
                    Err(e) => return refused(format!("cannot issue the receipt: {e}")),
                };
                let record = LicenseRecord {
                    license: &license,
                    voucher: &voucher_envelope,
                    lane: LaneId {
                        payer: voucher.payer,
                        payee: voucher.payee,
                        channel: voucher.channel,
                        lane: voucher.lane,
                    },
                    lane_nonce: voucher.nonce,
                    lane_cumulative: voucher.cumulative,
                    key: None,
                    now_ms: now,
                };
                if let Err(e) = catalog.record_license(record) {
                    tracing::error!(error = %e, "cannot record a sale");
                    return refused("the seller could not record the sale");
                }
                tracing::info!(dataset = %offer.dataset, price = offer.price, buyer = %offer.buyer, "sold a license");
                v1::NegotiationResponse {
                    message: Some(Message::Sold(v1::Sold {
                        license: license.envelope,
                        receipt: receipt.envelope,
                    })),
                }
            }
        }
    }

    /// Starts buying `dataset` from `seller`.
    pub(crate) fn start_buy(
        &self,
        dataset: DatasetId,
        seller: PublicKey,
        max_price: u64,
        bid: Option<u64>,
        reply: PurchaseReply,
    ) -> (v1::NegotiationRequest, BuySession) {
        let buyer = Buyer::new(max_price, bid);
        let request = wire::quote_request(&QuoteRequest {
            dataset,
            rights: UsageRights::Training,
            duration_secs: 0,
            bid: buyer.opening_bid(),
            network_id: self.network_id.clone(),
        });
        (
            request,
            BuySession {
                dataset,
                seller,
                buyer,
                paid: None,
                bought: None,
                reply,
            },
        )
    }

    /// Continues a buy session with the seller's answer.
    pub(crate) fn continue_buy(
        &self,
        catalog: &mut Catalog,
        mut session: BuySession,
        response: v1::NegotiationResponse,
    ) -> BuyStep {
        use v1::negotiation_response::Message;
        let fail = |session: BuySession, why: String| {
            let _ = session.reply.send(Err(why));
            None
        };
        if let Some(mut purchase) = session.bought.take() {
            // The seller's answer to the countersigned receipt: the purchase stands either way.
            match response.message {
                Some(Message::Logged(index)) => purchase.receipt_index = Some(index),
                other => tracing::warn!(answer = ?other, "the seller did not log the receipt"),
            }
            let _ = session.reply.send(Ok(purchase));
            return None;
        }
        match response.message {
            None => fail(session, "the seller sent an empty answer".into()),
            Some(Message::Logged(_) | Message::DeliveryReceipt(_)) => {
                fail(session, "the seller answered out of turn".into())
            }
            Some(Message::Refused(reason)) => {
                fail(session, format!("the seller refused: {reason}"))
            }
            Some(Message::NoAgreement(last)) => {
                let price = wire::open_offer(&last).map(|o| o.price).unwrap_or_default();
                fail(
                    session,
                    format!(
                        "no agreement: the seller's lowest offer was {price}; nothing was paid"
                    ),
                )
            }
            Some(Message::Offer(envelope)) => {
                let offer = match wire::open_offer(&envelope) {
                    Ok(offer) => offer,
                    Err(e) => {
                        return fail(session, format!("the seller sent an invalid offer: {e}"));
                    }
                };
                let mine = offer.buyer == self.key.public()
                    && offer.seller == session.seller
                    && offer.dataset == session.dataset
                    && offer.network_id == self.network_id;
                if !mine {
                    return fail(
                        session,
                        "the seller's offer is not for this purchase".into(),
                    );
                }
                match session.buyer.decide(&offer) {
                    BuyerDecision::Counter(bid) => {
                        Some((wire::counter_request(offer.id, bid), session))
                    }
                    BuyerDecision::GiveUp => fail(
                        session,
                        format!(
                            "no agreement: the seller's final offer was {}; nothing was paid",
                            offer.price
                        ),
                    ),
                    BuyerDecision::Accept => {
                        let lane = LaneId::between(self.key.public(), offer.seller);
                        let (nonce, cumulative) =
                            catalog.lane(&lane).ok().flatten().unwrap_or((0, 0));
                        let voucher = Voucher {
                            channel: lane.channel,
                            lane: lane.lane,
                            nonce: nonce + 1,
                            cumulative: cumulative.saturating_add(offer.price),
                            payer: self.key.public(),
                            payee: offer.seller,
                            network_id: self.network_id.clone(),
                        };
                        if let Err(e) =
                            catalog.record_voucher_signed(&lane, voucher.nonce, voucher.cumulative)
                        {
                            return fail(session, format!("cannot record the payment: {e}"));
                        }
                        let sealed = wire::seal_voucher(&self.key, &voucher);
                        session.paid = Some((sealed.clone(), voucher, u64::from(offer.round)));
                        Some((wire::accept_request(offer.id, sealed), session))
                    }
                }
            }
            Some(Message::Sold(sold)) => self.finish_buy(catalog, session, &sold),
        }
    }

    /// Ends a session whose next request could not be sent: a purchase already made stands.
    pub(crate) fn abandon(&self, session: BuySession, why: String) {
        let result = session
            .bought
            .ok_or_else(|| format!("cannot reach the seller: {why}"));
        let _ = session.reply.send(result);
    }

    fn finish_buy(
        &self,
        catalog: &mut Catalog,
        mut session: BuySession,
        sold: &v1::Sold,
    ) -> BuyStep {
        let fail = |session: BuySession, why: String| {
            let _ = session.reply.send(Err(why));
            None
        };
        let license = match SignedLicense::open(&sold.license) {
            Ok(license) => license,
            Err(e) => return fail(session, format!("the seller sent an invalid license: {e}")),
        };
        let l = &license.license;
        if l.seller != session.seller {
            return fail(session, "the license is signed by another seller".into());
        }
        if let Err(e) = l.grants(
            &self.key.public(),
            &session.dataset,
            &self.network_id,
            now_ms(),
        ) {
            return fail(session, format!("the license does not grant access: {e}"));
        }
        let key = match license.dataset_key(&self.key) {
            Ok(key) => key,
            Err(e) => return fail(session, e.to_string()),
        };
        let commitment_ok = catalog
            .get(&session.dataset)
            .ok()
            .flatten()
            .is_some_and(|d| d.signed.manifest.encryption.key_commitment == key.commitment());
        if !commitment_ok {
            return fail(
                session,
                "the key in the license is not the dataset's key".into(),
            );
        }
        let Some((voucher_envelope, voucher, rounds)) = &session.paid else {
            return fail(
                session,
                "the seller sent a license before any payment".into(),
            );
        };
        let record = LicenseRecord {
            license: &license,
            voucher: voucher_envelope,
            lane: LaneId::between(voucher.payer, voucher.payee),
            lane_nonce: voucher.nonce,
            lane_cumulative: voucher.cumulative,
            key: Some(&key),
            now_ms: now_ms(),
        };
        if let Err(e) = catalog.record_license(record) {
            return fail(session, format!("cannot record the license: {e}"));
        }
        let purchase = Purchase {
            dataset: session.dataset.to_hex(),
            license_id: hex::encode(license.id),
            price: l.price,
            currency: l.currency.clone(),
            rounds: u32::try_from(*rounds).unwrap_or(u32::MAX),
            expires_at_ms: l.expires_at_ms,
            receipt_id: None,
            receipt_index: None,
        };
        match receipts::countersign_sale(&self.key, catalog, &license, &sold.receipt) {
            Ok(signature) => {
                let receipt_id = souk_crypto::SignedReceipt::open(&sold.receipt)
                    .map(|r| hex::encode(r.id))
                    .ok();
                session.bought = Some(Purchase {
                    receipt_id,
                    ..purchase
                });
                Some((
                    wire::countersign_request(sold.receipt.clone(), signature),
                    session,
                ))
            }
            Err(e) => {
                tracing::warn!(error = %e, "not countersigning the seller's receipt");
                let _ = session.reply.send(Ok(purchase));
                None
            }
        }
    }
}

//! License negotiation.
//!
//! ```text
//! buyer                         seller
//!   Quote {dataset, rights, bid?} ->
//!                              <- Offer {id, price, expires, round}      (signed by the node)
//!   Counter {offer id, bid}      ->
//!                              <- Offer {round + 1} | NoAgreement {last offer}
//!   Accept {offer id, voucher}   ->
//!                              <- Accepted {offer, voucher}   (the node then issues the license)
//! ```
//!
//! The seller concedes halfway towards the buyer's bid each round and never goes below its
//! floor, and its last-round offer is its floor (or the bid, if higher): a buyer whose maximum
//! reaches the floor always gets an agreement within the rounds. The buyer raises its bid
//! halfway towards the offer each round and never above its maximum. Offers expire and are single-use; vouchers must raise the payment lane's cumulative
//! amount by at least the agreed price with a strictly larger nonce.

use std::collections::HashMap;

use souk_types::{DatasetId, PublicKey, UsageRights};

/// An offer's id: 16 random bytes chosen by the seller.
pub type OfferId = [u8; 16];

/// The seller's private terms for one dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub list_price: u64,
    pub floor_price: u64,
    pub currency: String,
    pub rights: UsageRights,
    pub duration_secs: u64,
    pub offer_ttl_ms: u64,
    pub max_rounds: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteRequest {
    pub dataset: DatasetId,
    pub rights: UsageRights,
    pub duration_secs: u64,
    pub bid: Option<u64>,
    pub network_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub id: OfferId,
    pub dataset: DatasetId,
    pub buyer: PublicKey,
    pub seller: PublicKey,
    pub price: u64,
    pub currency: String,
    pub rights: UsageRights,
    pub duration_secs: u64,
    pub expires_at_ms: u64,
    pub round: u32,
    /// The seller will not go lower: countering it ends the negotiation.
    pub is_final: bool,
    pub network_id: String,
}

/// A payment-channel voucher: the payer promises the payee a cumulative amount on a lane.
/// The caller verifies the payer's signature before handing it to the seller machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Voucher {
    pub channel: [u8; 32],
    pub lane: u32,
    pub nonce: u64,
    pub cumulative: u64,
    pub payer: PublicKey,
    pub payee: PublicKey,
    pub network_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuyerMessage {
    Quote(QuoteRequest),
    Counter { offer: OfferId, bid: u64 },
    Accept { offer: OfferId, voucher: Voucher },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the dataset is not for sale here")]
    NotForSale,
    #[error("the request is for network {found:?}, this seller is on {expected:?}")]
    WrongNetwork { expected: String, found: String },
    #[error("no such offer (it was never made, or was forgotten)")]
    UnknownOffer,
    #[error("the offer was made to another buyer")]
    NotYourOffer,
    #[error("the offer expired")]
    Expired,
    #[error("the offer was already accepted")]
    Replayed,
    #[error("the voucher is invalid: {0}")]
    BadVoucher(&'static str),
    #[error("too many open offers; try again later")]
    Busy,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SellerMessage {
    Offer(Offer),
    /// The buyer's bid stayed under the floor until the rounds ran out.
    NoAgreement {
        last_offer: Offer,
    },
    /// Paid: the node issues the license for `offer` and records `voucher`.
    Accepted {
        offer: Offer,
        voucher: Voucher,
    },
    Refused(Refusal),
}

#[derive(Debug, Clone)]
struct OpenOffer {
    offer: Offer,
    floor: u64,
    max_rounds: u32,
    accepted: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Lane {
    nonce: u64,
    cumulative: u64,
}

/// The seller's side: open offers and the state of every payment lane.
#[derive(Debug)]
pub struct Seller {
    me: PublicKey,
    network_id: String,
    offers: HashMap<OfferId, OpenOffer>,
    lanes: HashMap<(PublicKey, [u8; 32], u32), Lane>,
    max_open_offers: usize,
}

fn halfway_up(low: u64, high: u64) -> u64 {
    low + (high - low).div_ceil(2)
}

impl Seller {
    pub fn new(me: PublicKey, network_id: impl Into<String>, max_open_offers: usize) -> Self {
        Self {
            me,
            network_id: network_id.into(),
            offers: HashMap::new(),
            lanes: HashMap::new(),
            max_open_offers,
        }
    }

    /// Sets a payment lane's last state (as persisted), before an accept on it is handled.
    pub fn set_lane(
        &mut self,
        payer: PublicKey,
        channel: [u8; 32],
        lane: u32,
        nonce: u64,
        cumulative: u64,
    ) {
        self.lanes
            .insert((payer, channel, lane), Lane { nonce, cumulative });
    }

    /// Forgets offers that expired before `now_ms` (accepted ones are kept, to refuse replays).
    pub fn expire(&mut self, now_ms: u64) {
        self.offers
            .retain(|_, o| o.accepted || o.offer.expires_at_ms > now_ms);
    }

    /// Handles one message from `from`. `policy` is the seller's terms for the dataset the
    /// message concerns (`None`: not for sale); `offer_id` is fresh randomness for a new offer.
    pub fn handle(
        &mut self,
        now_ms: u64,
        offer_id: OfferId,
        from: PublicKey,
        message: BuyerMessage,
        policy: impl FnOnce(&DatasetId) -> Option<Policy>,
    ) -> SellerMessage {
        match message {
            BuyerMessage::Quote(quote) => self.quote(now_ms, offer_id, from, quote, policy),
            BuyerMessage::Counter { offer, bid } => {
                self.counter(now_ms, offer_id, from, offer, bid)
            }
            BuyerMessage::Accept { offer, voucher } => self.accept(now_ms, from, offer, voucher),
        }
    }

    fn open(&mut self, offer: Offer, floor: u64, max_rounds: u32) -> SellerMessage {
        if self.offers.len() >= self.max_open_offers {
            return SellerMessage::Refused(Refusal::Busy);
        }
        self.offers.insert(
            offer.id,
            OpenOffer {
                offer: offer.clone(),
                floor,
                max_rounds,
                accepted: false,
            },
        );
        SellerMessage::Offer(offer)
    }

    fn quote(
        &mut self,
        now_ms: u64,
        offer_id: OfferId,
        from: PublicKey,
        quote: QuoteRequest,
        policy: impl FnOnce(&DatasetId) -> Option<Policy>,
    ) -> SellerMessage {
        if quote.network_id != self.network_id {
            return SellerMessage::Refused(Refusal::WrongNetwork {
                expected: self.network_id.clone(),
                found: quote.network_id,
            });
        }
        let Some(policy) = policy(&quote.dataset) else {
            return SellerMessage::Refused(Refusal::NotForSale);
        };
        let floor = policy.floor_price.min(policy.list_price);
        let price = match quote.bid {
            Some(bid) if bid >= policy.list_price => policy.list_price,
            Some(bid) if bid >= floor => halfway_up(bid, policy.list_price),
            _ => policy.list_price,
        };
        let offer = Offer {
            id: offer_id,
            dataset: quote.dataset,
            buyer: from,
            seller: self.me,
            price,
            currency: policy.currency,
            rights: policy.rights,
            duration_secs: policy.duration_secs,
            expires_at_ms: now_ms.saturating_add(policy.offer_ttl_ms),
            round: 1,
            is_final: price == floor || policy.max_rounds <= 1,
            network_id: self.network_id.clone(),
        };
        self.open(offer, floor, policy.max_rounds.max(1))
    }

    /// The open offer `id`, if `from` may still act on it at `now_ms`.
    fn live_offer(
        &self,
        id: &OfferId,
        from: &PublicKey,
        now_ms: u64,
    ) -> Result<&OpenOffer, Refusal> {
        let open = self.offers.get(id).ok_or(Refusal::UnknownOffer)?;
        if open.offer.buyer != *from {
            return Err(Refusal::NotYourOffer);
        }
        if open.accepted {
            return Err(Refusal::Replayed);
        }
        if now_ms >= open.offer.expires_at_ms {
            return Err(Refusal::Expired);
        }
        Ok(open)
    }

    fn counter(
        &mut self,
        now_ms: u64,
        offer_id: OfferId,
        from: PublicKey,
        previous: OfferId,
        bid: u64,
    ) -> SellerMessage {
        let open = match self.live_offer(&previous, &from, now_ms) {
            Ok(open) => open.clone(),
            Err(refusal) => return SellerMessage::Refused(refusal),
        };
        self.offers.remove(&previous);
        let last_round = open.offer.is_final || open.offer.round >= open.max_rounds;
        let last = open.offer;
        if last_round {
            if bid >= open.floor {
                let price = bid.min(last.price);
                return self.open(
                    Offer {
                        id: offer_id,
                        price,
                        round: last.round + 1,
                        is_final: true,
                        expires_at_ms: now_ms.saturating_add(last_ttl(&last, now_ms)),
                        ..last
                    },
                    open.floor,
                    open.max_rounds,
                );
            }
            return SellerMessage::NoAgreement { last_offer: last };
        }
        let round = last.round + 1;
        let price = if round >= open.max_rounds {
            // The last round: the seller's best, so a buyer who can pay the floor always can.
            bid.min(last.price).max(open.floor)
        } else {
            let conceded = halfway_up(bid.min(last.price), last.price)
                .max(open.floor)
                .min(last.price);
            if bid >= conceded {
                bid.min(last.price)
            } else {
                conceded
            }
        };
        self.open(
            Offer {
                id: offer_id,
                price,
                round,
                is_final: price == open.floor || round >= open.max_rounds,
                expires_at_ms: now_ms.saturating_add(last_ttl(&last, now_ms)),
                ..last
            },
            open.floor,
            open.max_rounds,
        )
    }

    fn accept(
        &mut self,
        now_ms: u64,
        from: PublicKey,
        offer_id: OfferId,
        voucher: Voucher,
    ) -> SellerMessage {
        let price = match self.live_offer(&offer_id, &from, now_ms) {
            Ok(open) => open.offer.price,
            Err(refusal) => return SellerMessage::Refused(refusal),
        };
        if voucher.payer != from || voucher.payee != self.me {
            return SellerMessage::Refused(Refusal::BadVoucher(
                "it is not from the buyer to this seller",
            ));
        }
        if voucher.network_id != self.network_id {
            return SellerMessage::Refused(Refusal::BadVoucher("it is for another network"));
        }
        let key = (voucher.payer, voucher.channel, voucher.lane);
        let lane = self.lanes.get(&key).copied().unwrap_or_default();
        if voucher.nonce <= lane.nonce {
            return SellerMessage::Refused(Refusal::BadVoucher("its nonce does not increase"));
        }
        let paid = voucher.cumulative.saturating_sub(lane.cumulative);
        if voucher.cumulative < lane.cumulative || paid < price {
            return SellerMessage::Refused(Refusal::BadVoucher(
                "it pays less than the agreed price",
            ));
        }
        self.lanes.insert(
            key,
            Lane {
                nonce: voucher.nonce,
                cumulative: voucher.cumulative,
            },
        );
        match self.offers.get_mut(&offer_id) {
            Some(open) => {
                open.accepted = true;
                SellerMessage::Accepted {
                    offer: open.offer.clone(),
                    voucher,
                }
            }
            None => SellerMessage::Refused(Refusal::UnknownOffer),
        }
    }
}

/// The time-to-live an offer was given, reused for the next round's offer.
fn last_ttl(last: &Offer, now_ms: u64) -> u64 {
    last.expires_at_ms.saturating_sub(now_ms).max(1)
}

/// What the buyer does with an offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuyerDecision {
    Accept,
    Counter(u64),
    /// Above the buyer's maximum and the seller will not go lower.
    GiveUp,
}

/// The buyer's side: a maximum it will pay and an opening bid.
#[derive(Debug, Clone)]
pub struct Buyer {
    max_price: u64,
    bid: u64,
}

impl Buyer {
    /// `bid` defaults to the maximum: without one, the buyer accepts any offer it can afford.
    pub fn new(max_price: u64, bid: Option<u64>) -> Self {
        Self {
            max_price,
            bid: bid.unwrap_or(max_price).min(max_price),
        }
    }

    pub fn opening_bid(&self) -> Option<u64> {
        (self.bid < self.max_price).then_some(self.bid)
    }

    pub fn decide(&mut self, offer: &Offer) -> BuyerDecision {
        if offer.price <= self.bid {
            return BuyerDecision::Accept;
        }
        if offer.is_final {
            return if offer.price <= self.max_price {
                BuyerDecision::Accept
            } else {
                BuyerDecision::GiveUp
            };
        }
        self.bid = halfway_up(self.bid, offer.price.min(self.max_price));
        if offer.price <= self.bid {
            BuyerDecision::Accept
        } else {
            BuyerDecision::Counter(self.bid)
        }
    }
}

#[cfg(test)]
mod tests;

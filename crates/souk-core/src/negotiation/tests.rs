use proptest::prelude::*;

use super::*;

const NET: &str = "souk-test";

fn key(n: u8) -> PublicKey {
    PublicKey::from_bytes([n; 32])
}

fn policy(list: u64, floor: u64, rounds: u32) -> Policy {
    Policy {
        list_price: list,
        floor_price: floor,
        currency: "SOUK".into(),
        rights: UsageRights::Training,
        duration_secs: 3600,
        offer_ttl_ms: 10_000,
        max_rounds: rounds,
    }
}

fn quote(bid: Option<u64>) -> BuyerMessage {
    BuyerMessage::Quote(QuoteRequest {
        dataset: DatasetId::from_bytes([1; 32]),
        rights: UsageRights::Training,
        duration_secs: 3600,
        bid,
        network_id: NET.into(),
    })
}

fn voucher(nonce: u64, cumulative: u64) -> Voucher {
    Voucher {
        channel: [3; 32],
        lane: 0,
        nonce,
        cumulative,
        payer: key(2),
        payee: key(9),
        network_id: NET.into(),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Agreed { price: u64, rounds: u32 },
    NoAgreement { last_price: u64 },
    BuyerGaveUp { last_price: u64 },
}

/// Plays a whole negotiation between the two machines; ids come from a counter.
fn negotiate(seller: &mut Seller, policy: &Policy, buyer: &mut Buyer, paid_so_far: u64) -> Outcome {
    let mut ids = 0u8..;
    let mut next_id = || [ids.next().unwrap_or(0); 16];
    let mut reply = seller.handle(0, next_id(), key(2), quote(buyer.opening_bid()), |_| {
        Some(policy.clone())
    });
    for _ in 0..100 {
        let offer = match reply {
            SellerMessage::Offer(offer) => offer,
            SellerMessage::NoAgreement { last_offer } => {
                return Outcome::NoAgreement {
                    last_price: last_offer.price,
                };
            }
            other => panic!("unexpected {other:?}"),
        };
        reply = match buyer.decide(&offer) {
            BuyerDecision::Accept => {
                let paid = voucher(
                    u64::from(offer.round) + paid_so_far,
                    paid_so_far + offer.price,
                );
                match seller.handle(
                    1,
                    next_id(),
                    key(2),
                    BuyerMessage::Accept {
                        offer: offer.id,
                        voucher: paid,
                    },
                    |_| None,
                ) {
                    SellerMessage::Accepted { offer, .. } => {
                        return Outcome::Agreed {
                            price: offer.price,
                            rounds: offer.round,
                        };
                    }
                    other => panic!("accept refused: {other:?}"),
                }
            }
            BuyerDecision::Counter(bid) => seller.handle(
                1,
                next_id(),
                key(2),
                BuyerMessage::Counter {
                    offer: offer.id,
                    bid,
                },
                |_| None,
            ),
            BuyerDecision::GiveUp => {
                return Outcome::BuyerGaveUp {
                    last_price: offer.price,
                };
            }
        };
    }
    panic!("negotiation did not end");
}

fn seller() -> Seller {
    Seller::new(key(9), NET, 1000)
}

#[test]
fn a_buyer_without_a_bid_takes_the_list_price() {
    let outcome = negotiate(
        &mut seller(),
        &policy(100, 60, 4),
        &mut Buyer::new(150, None),
        0,
    );
    assert_eq!(
        outcome,
        Outcome::Agreed {
            price: 100,
            rounds: 1
        }
    );
}

#[test]
fn counter_offers_meet_between_floor_and_maximum() {
    let outcome = negotiate(
        &mut seller(),
        &policy(100, 60, 6),
        &mut Buyer::new(80, Some(40)),
        0,
    );
    let Outcome::Agreed { price, rounds } = outcome else {
        panic!("no agreement: {outcome:?}");
    };
    assert!((60..=80).contains(&price), "price {price}");
    assert!(rounds > 1, "agreed without countering");
}

#[test]
fn a_maximum_under_the_floor_gives_no_agreement_and_nothing_is_paid() {
    let mut s = seller();
    let outcome = negotiate(
        &mut s,
        &policy(100, 60, 4),
        &mut Buyer::new(40, Some(20)),
        0,
    );
    assert!(
        matches!(outcome, Outcome::NoAgreement { last_price } | Outcome::BuyerGaveUp { last_price } if last_price >= 60),
        "{outcome:?}"
    );
    assert!(s.lanes.is_empty(), "a lane moved without agreement");
}

fn first_offer(s: &mut Seller, bid: Option<u64>) -> Offer {
    match s.handle(0, [7; 16], key(2), quote(bid), |_| Some(policy(100, 60, 4))) {
        SellerMessage::Offer(offer) => offer,
        other => panic!("{other:?}"),
    }
}

#[test]
fn an_expired_offer_cannot_be_accepted_or_countered() {
    let mut s = seller();
    let offer = first_offer(&mut s, None);
    let late = offer.expires_at_ms;
    let accept = BuyerMessage::Accept {
        offer: offer.id,
        voucher: voucher(1, 100),
    };
    assert_eq!(
        s.handle(late, [8; 16], key(2), accept, |_| None),
        SellerMessage::Refused(Refusal::Expired)
    );
    let counter = BuyerMessage::Counter {
        offer: offer.id,
        bid: 90,
    };
    assert_eq!(
        s.handle(late, [8; 16], key(2), counter, |_| None),
        SellerMessage::Refused(Refusal::Expired)
    );
}

#[test]
fn an_accept_is_single_use_and_vouchers_must_advance() {
    let mut s = seller();
    let offer = first_offer(&mut s, None);
    let accept = |v| BuyerMessage::Accept {
        offer: offer.id,
        voucher: v,
    };
    assert!(matches!(
        s.handle(1, [8; 16], key(2), accept(voucher(1, 100)), |_| None),
        SellerMessage::Accepted { .. }
    ));
    assert_eq!(
        s.handle(2, [8; 16], key(2), accept(voucher(2, 200)), |_| None),
        SellerMessage::Refused(Refusal::Replayed)
    );
    // A new purchase on the same lane must raise the nonce and the cumulative amount.
    let second = {
        match s.handle(3, [9; 16], key(2), quote(None), |_| {
            Some(policy(100, 60, 4))
        }) {
            SellerMessage::Offer(o) => o,
            other => panic!("{other:?}"),
        }
    };
    let accept2 = |v| BuyerMessage::Accept {
        offer: second.id,
        voucher: v,
    };
    for (bad, why) in [
        (voucher(1, 300), "its nonce does not increase"),
        (voucher(2, 150), "it pays less than the agreed price"),
    ] {
        assert_eq!(
            s.handle(4, [8; 16], key(2), accept2(bad), |_| None),
            SellerMessage::Refused(Refusal::BadVoucher(why))
        );
    }
    assert!(matches!(
        s.handle(4, [8; 16], key(2), accept2(voucher(2, 200)), |_| None),
        SellerMessage::Accepted { .. }
    ));
}

#[test]
fn other_networks_other_buyers_and_unsold_datasets_are_refused() {
    let mut s = seller();
    let wrong_net = BuyerMessage::Quote(QuoteRequest {
        network_id: "souk-main".into(),
        ..match quote(None) {
            BuyerMessage::Quote(q) => q,
            _ => unreachable!(),
        }
    });
    assert!(matches!(
        s.handle(0, [1; 16], key(2), wrong_net, |_| Some(policy(1, 1, 1))),
        SellerMessage::Refused(Refusal::WrongNetwork { .. })
    ));
    assert_eq!(
        s.handle(0, [1; 16], key(2), quote(None), |_| None),
        SellerMessage::Refused(Refusal::NotForSale)
    );
    let offer = first_offer(&mut s, None);
    let stolen = BuyerMessage::Accept {
        offer: offer.id,
        voucher: Voucher {
            payer: key(5),
            ..voucher(1, 100)
        },
    };
    assert_eq!(
        s.handle(1, [2; 16], key(5), stolen, |_| None),
        SellerMessage::Refused(Refusal::NotYourOffer)
    );
    let mut other_net_voucher = voucher(1, 100);
    other_net_voucher.network_id = "souk-main".into();
    assert!(matches!(
        s.handle(
            1,
            [2; 16],
            key(2),
            BuyerMessage::Accept {
                offer: offer.id,
                voucher: other_net_voucher
            },
            |_| None
        ),
        SellerMessage::Refused(Refusal::BadVoucher(_))
    ));
}

proptest! {
    #[test]
    fn agreement_exactly_when_the_maximum_reaches_the_floor(
        floor in 1u64..1_000,
        above in 0u64..1_000,
        max_price in 0u64..2_500,
        bid_share in 0u64..=100,
        rounds in 1u32..8,
    ) {
        let list = floor + above;
        let bid = Some(max_price * bid_share / 100);
        let mut s = seller();
        let outcome = negotiate(&mut s, &policy(list, floor, rounds), &mut Buyer::new(max_price, bid), 0);
        match outcome {
            Outcome::Agreed { price, rounds: used } => {
                prop_assert!(price >= floor && price <= list && price <= max_price, "price {price}");
                prop_assert!(used <= rounds + 1);
            }
            _ => prop_assert!(max_price < floor || rounds < 2, "{outcome:?} with max {max_price} >= floor {floor}"),
        }
    }
}

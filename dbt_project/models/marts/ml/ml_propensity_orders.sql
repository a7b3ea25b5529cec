-- The purchase log the propensity engine (ml/propensity.py) learns from and scores with: one row
-- per resolved shop order on or before the run's as-of, keyed by profile. Status is kept so that
-- cancelled and refunded orders are features, never purchases or labels. See docs/ml.md.

select
    order_id,
    profile_id as customer_id,
    ordered_at,
    amount,
    status
from {{ ref('int_orders_resolved') }}
where profile_id is not null
  and ordered_at is not null
  and ordered_at < {{ tessera_as_of() }}

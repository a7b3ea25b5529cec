{#- Order traits per profile: completed orders up to the run's as-of time. -#}
with

orders as (

    select * from {{ ref('int_orders_resolved') }}
    where status = 'completed'
      and profile_id is not null
      and ordered_at <= {{ tessera.tessera_as_of() }}

),

order_lines as (

    select * from {{ ref('int_order_lines_resolved') }}
    where status = 'completed'
      and profile_id is not null
      and ordered_at <= {{ tessera.tessera_as_of() }}

),

order_totals as (

    select
        profile_id,
        sum(amount)                     as lifetime_value,
        count(distinct order_id)        as order_count,
        min(ordered_at)                 as first_order_at,
        max(ordered_at)                 as last_order_at
    from orders
    group by profile_id

),

category_spend as (

    select
        profile_id,
        category,
        sum(line_amount) as category_amount
    from order_lines
    where category is not null
    group by profile_id, category

),

{#- Most purchased category by line amount; ties go to the alphabetically first category. -#}
favourite_category as (

    select
        profile_id,
        category,
        row_number() over (
            partition by profile_id
            order by category_amount desc, category
        ) as category_rank
    from category_spend

),

final as (

    select
        order_totals.profile_id,
        order_totals.lifetime_value,
        order_totals.order_count,
        order_totals.lifetime_value / nullif(order_totals.order_count, 0) as avg_order_value,
        order_totals.first_order_at,
        order_totals.last_order_at,
        favourite_category.category as favourite_category
    from order_totals
    left join favourite_category
        on favourite_category.profile_id = order_totals.profile_id
        and favourite_category.category_rank = 1

)

select * from final

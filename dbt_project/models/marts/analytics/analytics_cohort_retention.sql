{#- Monthly retention by first-order cohort: of the customers whose first completed order fell
    in cohort_month, how many ordered again months_since_first months later. -#}
with

orders as (

    select * from {{ ref('int_orders_resolved') }}
    where status = 'completed'
      and ordered_at is not null

),

customer_orders as (

    select
        coalesce(profile_id, {{ dbt.concat(["'customer:'", 'customer_id']) }}) as customer_key,
        cast({{ dbt.date_trunc('month', 'ordered_at') }} as date)         as order_month
    from orders

),

first_orders as (

    select
        customer_key,
        min(order_month) as cohort_month
    from customer_orders
    group by customer_key

),

activity as (

    select distinct
        first_orders.cohort_month,
        {{ dbt.datediff('first_orders.cohort_month', 'customer_orders.order_month', 'month') }} as months_since_first,
        customer_orders.customer_key
    from customer_orders
    inner join first_orders
        on first_orders.customer_key = customer_orders.customer_key

),

cohort_sizes as (

    select
        cohort_month,
        count(*) as cohort_size
    from first_orders
    group by cohort_month

),

active as (

    select
        cohort_month,
        months_since_first,
        count(distinct customer_key) as active_customers
    from activity
    group by cohort_month, months_since_first

),

final as (

    select
        active.cohort_month,
        active.months_since_first,
        active.active_customers,
        cohort_sizes.cohort_size,
        cast(active.active_customers as {{ tessera.type_double() }}) / cohort_sizes.cohort_size as retention_rate
    from active
    inner join cohort_sizes
        on cohort_sizes.cohort_month = active.cohort_month

)

select * from final

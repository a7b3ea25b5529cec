{#- Contract 3: order lines with the order's profile and time, and the product's category. -#}
with

order_lines as (

    select * from {{ ref('stg_shop__order_lines') }}

),

orders as (

    select * from {{ ref('int_orders_resolved') }}

),

products as (

    select * from {{ ref('stg_shop__products') }}

),

final as (

    select
        order_lines.order_line_id,
        order_lines.order_id,
        orders.profile_id,
        orders.ordered_at,
        order_lines.product_id,
        products.category,
        order_lines.quantity,
        order_lines.unit_price,
        order_lines.line_amount,
        orders.status
    from order_lines
    left join orders
        on orders.order_id = order_lines.order_id
    left join products
        on products.product_id = order_lines.product_id

)

select * from final

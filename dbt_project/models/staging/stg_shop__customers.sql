with source as (
    select * from {{ source('shop', 'customers') }}
),

renamed as (
    select
        cast(customer_id as varchar) as customer_id,
        -- Pseudonymised: a stable key for joins across exports, never the address itself.
        md5(lower(trim(cast(email as varchar)))) as email_hash,
        upper(trim(cast(country as varchar))) as country,
        cast(signed_up_at as timestamp) as signed_up_at
    from source
)

select * from renamed
qualify row_number() over (partition by customer_id order by signed_up_at nulls last) = 1

{#
  Lifecycle stage of a customer as of the scoring date, first matching rule wins
  (H = var horizon_days, 90 by default):

  | stage       | rule                                                                       |
  |-------------|----------------------------------------------------------------------------|
  | churned     | has ordered, but not in the last H days; or signed up H+ days ago, never ordered |
  | new         | first order in the last 30 days, or signed up < H days ago and never ordered |
  | reactivated | ordered in the last 30 days after a gap of H+ days                          |
  | at risk     | overdue: no order for twice the customer's usual gap (45 days for one-time buyers) |
  | loyal       | 5 or more orders                                                            |
  | active      | everyone else                                                               |
#}
{% macro lifecycle_stage(frequency, recency_days, days_since_first_order, tenure_days, last_order_gap_days, mean_interpurchase_days) -%}
    {%- set horizon = var('horizon_days') -%}
    {#- The names are the var lifecycle_stages, in its order. -#}
    {%- set new, active, loyal, at_risk, churned, reactivated = var('lifecycle_stages') -%}
    case
        when {{ frequency }} > 0 and {{ recency_days }} >= {{ horizon }} then '{{ churned }}'
        when {{ frequency }} = 0 and {{ tenure_days }} >= {{ horizon }} then '{{ churned }}'
        when {{ frequency }} = 0 or {{ days_since_first_order }} < 30 then '{{ new }}'
        when {{ recency_days }} < 30 and {{ last_order_gap_days }} >= {{ horizon }} then '{{ reactivated }}'
        when {{ recency_days }} > coalesce(2 * {{ mean_interpurchase_days }}, 45) then '{{ at_risk }}'
        when {{ frequency }} >= 5 then '{{ loyal }}'
        else '{{ active }}'
    end
{%- endmacro %}

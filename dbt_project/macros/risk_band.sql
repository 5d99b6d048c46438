{#- The churn risk band of a probability (var risk_bands): the last from var risk_band_high,
    the middle one from var risk_band_medium, the first below. -#}
{% macro risk_band(probability) -%}
    {%- set bands = var('risk_bands') -%}
    case
        when {{ probability }} >= {{ var('risk_band_high') }} then '{{ bands[2] }}'
        when {{ probability }} >= {{ var('risk_band_medium') }} then '{{ bands[1] }}'
        else '{{ bands[0] }}'
    end
{%- endmacro %}

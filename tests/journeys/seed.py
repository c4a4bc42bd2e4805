"""The seed 003 journey (SPEC §7) and its two messages, as a project adds them."""

JOURNEYS = """\
journeys:
  loyalty-invite:
    title: Invite high-LTV customers to the SMS loyalty club
    entry:
      segment: high-ltv
      schedule: {every: 1 day, at: "12:00", local_time: true}
      re_entry: false
    exit_when: {event: {name: Order Refunded}}
    conversion: {event: {name: Session Started}, within: {days: 3}}
    steps:
      - send: loyalty-invite-email
      - wait_for:
          event: {name: SMS Keyword, where: [{property: keyword, op: equals, value: LOYALTY}]}
          within: {days: 7}
          on_timeout: end
      - delay: {seconds: 30}
      - send: loyalty-offer-sms
      - add_to_group: vip
"""

MESSAGES = """\
  loyalty-invite-email:
    title: Join the Explorer loyalty club
    segments: [high-ltv]
    channel: email
    subject: "{{ customerFirstName }}, join the Explorer loyalty club"
    body: |
      Hi {{ customerFirstName }},
      Text LOYALTY to our number to join the club and get members-only offers.
      Unsubscribe: {{ unsubscribeLink }}
  loyalty-offer-sms:
    title: Loyalty club offer
    segments: [high-ltv]
    channel: sms
    subscription_group: loyalty
    body: "Welcome to the club, {{ customerFirstName }}! Show this text for 20% off your next pass."
"""

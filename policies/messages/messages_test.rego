# METADATA
# description: The message catalog every decision's reasons, withheld lines and obligations are explained from.
package refunds.messages_test

test_every_code_has_an_english_and_a_french_message if {
	en := object.keys(data.messages.en)
	object.keys(data.messages.fr) == en
	count(en) > 0
	every code in en {
		data.messages.en[code] != ""
		data.messages.fr[code] != ""
	}
}

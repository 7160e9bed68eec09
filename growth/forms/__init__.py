"""LIFF forms and surveys (回答フォーム / アンケート): the shop's questions, the friend's
answers, what the answers set on the friend, and what a submission does."""

/** Arabic strings of the contract, copied exactly. They are shown to end users as they are. */

export const MESSAGES = Object.freeze({
  /** Sandbox 0600000001. */
  BALANCE_UNAVAILABLE: 'الرصيد المطلوب غير متوفر لهذا الرقم',
  /** Sandbox 0600000002, and a GETMENU answer. */
  OFFER_NOT_ACCEPTED: 'هذا رقم الهاتف لا يقبل العرض المرسل، الرجاء إرسال أحد العروض التالية',
  /** UNKNOWN_ERROR notice. */
  UNKNOWN_NOTICE:
    'هذه العملية حالتها غير معروفة، يرجى التأكد مع عميلك، ولن نتحمل أي مسؤولية عن أي خسائر. إذا فشلت العملية بالفعل، فلا تقلق، سيتم استرداد أموالك خلال 24 ساعة',
  /** Operator refused: wrong number. */
  WRONG_NUMBER: 'رقم الهاتف خاطئ، يرجى التأكد مع العميل',
  /** Plan mismatch (prepaid plan to a postpaid number). */
  PLAN_MISMATCH: 'هذا العرض غير متوافق مع هذا الرقم جرب فاتورة',
  /** typename of the facture suggestion. */
  FACTURE_TYPENAME: '📋 FACTURE | فاتورة',
});

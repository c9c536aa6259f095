package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"

	"github.com/custodian-crm/custodian/client"
)

func Example() {
	ctx := context.Background()
	c, err := client.New("https://crm.example.com", client.WithToken(os.Getenv("CUSTODIAN_TOKEN")))
	if err != nil {
		log.Fatal(err)
	}
	ada, err := c.CreateCustomer(ctx, client.CustomerInput{Name: "Ada Lovelace", Email: "ada@example.com"})
	var refused *client.Error
	if errors.As(err, &refused) && refused.Code == client.CodeInvalid {
		msg, _ := refused.Field("email")
		log.Fatalf("the email address was refused: %s", msg)
	} else if err != nil {
		log.Fatal(err)
	}

	// Change it only if nobody else has meanwhile: If-Match.
	ada, err = c.PatchCustomer(ctx, ada.ID, client.IfMatch(ada), client.CustomerPatch{
		Notes: client.Set("Prefers email"),
		Phone: client.Clear[string](),
	})
	if client.ErrorCode(err) == client.CodePreconditionFailed {
		log.Fatal("someone else changed the customer; read it again")
	}

	// Every customer tagged vip, page after page; reads are recorded with
	// their purpose.
	for cust, err := range c.Customers(client.WithPurpose(ctx, "newsletter"), client.ListCustomersParams{Tag: "vip"}) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(cust.Name)
	}
}
